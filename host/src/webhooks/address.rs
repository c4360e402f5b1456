//! Which addresses a webhook may reach: public ones, and loopback, private and link-local ones
//! only when the operator granted them (`allow_private`). Every address a name resolves to is
//! checked, and the request goes to a checked one, so a name cannot be pointed elsewhere
//! between the check and the connection.

use std::net::{IpAddr, SocketAddr};

use crate::plugins::dns::{Network, network};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error(
        "{host} resolves to {ip}, a {kind} address; set allow_private = true on this webhook to allow it"
    )]
    Private {
        host: String,
        ip: IpAddr,
        kind: &'static str,
    },
    #[error("{host} resolves to {ip}, which is no service's address")]
    Unusable { host: String, ip: IpAddr },
    #[error("{host} resolves to no address")]
    Nothing { host: String },
}

/// The first address of `resolved` a webhook may reach, or why none may be (any refused
/// address refuses the name: a name that is partly private is not trusted).
pub fn allowed_address(
    host: &str,
    resolved: &[SocketAddr],
    allow_private: bool,
) -> Result<SocketAddr, AddressError> {
    for addr in resolved {
        let kind = match network(addr.ip()) {
            Network::Public => continue,
            Network::Unusable => {
                return Err(AddressError::Unusable {
                    host: host.to_owned(),
                    ip: addr.ip(),
                });
            }
            _ if allow_private => continue,
            Network::Loopback => "loopback",
            Network::Private => "private",
            Network::LinkLocal => "link-local",
        };
        return Err(AddressError::Private {
            host: host.to_owned(),
            ip: addr.ip(),
            kind,
        });
    }
    resolved.first().copied().ok_or(AddressError::Nothing {
        host: host.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn private_addresses_need_a_grant() {
        let cases = [
            ("127.0.0.1:80", false, Err("loopback")),
            ("127.0.0.1:80", true, Ok(())),
            ("192.168.1.5:80", false, Err("private")),
            ("10.0.0.1:80", true, Ok(())),
            ("169.254.169.254:80", false, Err("link-local")),
            ("[::1]:80", false, Err("loopback")),
            ("[::ffff:10.0.0.1]:80", false, Err("private")),
            ("93.184.216.34:443", false, Ok(())),
            ("0.0.0.0:80", true, Err("no service")),
        ];
        for (a, grant, expected) in cases {
            let got = allowed_address("h", &[addr(a)], grant);
            match expected {
                Ok(()) => assert_eq!(got, Ok(addr(a)), "{a}"),
                Err(word) => assert!(
                    got.as_ref().is_err_and(|e| e.to_string().contains(word)),
                    "{a}: {got:?}"
                ),
            }
        }
        assert!(
            allowed_address(
                "h",
                &[addr("93.184.216.34:443"), addr("10.0.0.1:443")],
                false
            )
            .is_err(),
            "one private address refuses the name"
        );
        assert!(allowed_address("h", &[], true).is_err());
    }
}
