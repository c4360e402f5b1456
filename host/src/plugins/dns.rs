//! Name resolution for plugin HTTP, pinned: a granted host name is looked up when the plugin
//! loads (or at its first use), and while the pin holds, connections go to those addresses
//! whatever the name resolves to meanwhile. A name made to point elsewhere — DNS rebinding, to
//! reach a host the operator never granted — is never followed there.
//!
//! A pin holds for the answer's TTL (at least [`MIN_PIN`], so a TTL of 0 cannot be used to
//! rebind at will), or until a connection to the pinned address fails. Then the name is looked
//! up afresh and followed to its new address, but only within the kind of network it was
//! granted in (loopback, private, link-local or public): a Docker slskd that comes back with a
//! new private IP is reachable again, a name that moves from the internet to the LAN is not.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The shortest a pin holds, whatever the TTL says.
pub const MIN_PIN: Duration = Duration::from_secs(60);

/// The kinds of network a name may move within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Network {
    Loopback,
    /// RFC 1918, carrier-grade NAT, IPv6 unique-local.
    Private,
    LinkLocal,
    Public,
    /// Unspecified, multicast, broadcast, documentation: never a service.
    Unusable,
}

pub(crate) fn network(ip: IpAddr) -> Network {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_loopback() {
                Network::Loopback
            } else if v4.is_private() || (a == 100 && (64..128).contains(&b)) {
                Network::Private
            } else if v4.is_link_local() {
                Network::LinkLocal
            } else if v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
            {
                Network::Unusable
            } else {
                Network::Public
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Network::Loopback
            } else if first & 0xfe00 == 0xfc00 {
                Network::Private
            } else if first & 0xffc0 == 0xfe80 {
                Network::LinkLocal
            } else if v6.is_unspecified() || v6.is_multicast() {
                Network::Unusable
            } else {
                Network::Public
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Pin {
    addrs: Vec<IpAddr>,
    /// The networks the name was granted in.
    networks: Vec<Network>,
    until: Instant,
    /// A connection to it failed: look the name up again at the next use.
    stale: bool,
}

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Where names are looked up.
#[derive(Clone)]
pub enum Lookup {
    /// The operating system's resolver.
    System,
    /// A DNS server the operator named (`plugins.dns_server`).
    Server(Arc<TokioResolver>),
}

impl Lookup {
    pub fn server(addr: SocketAddr) -> Result<Lookup, String> {
        let mut udp = ConnectionConfig::udp();
        udp.port = addr.port();
        let mut tcp = ConnectionConfig::tcp();
        tcp.port = addr.port();
        let config = ResolverConfig::from_name_servers(vec![NameServerConfig::new(
            addr.ip(),
            true,
            vec![udp, tcp],
        )]);
        let mut builder =
            TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
        // Pinning needs the server's current answer every time, not a cached one.
        builder.options_mut().cache_size = 0;
        builder
            .build()
            .map(|r| Lookup::Server(Arc::new(r)))
            .map_err(|e| e.to_string())
    }

    /// The addresses of a name, and how long the answer is good for when the lookup says
    /// (the system's resolver does not).
    async fn resolve(&self, name: &str) -> Result<(Vec<IpAddr>, Option<Duration>), String> {
        match self {
            Lookup::System => tokio::net::lookup_host((name, 0))
                .await
                .map(|addrs| (addrs.map(|a| a.ip()).collect(), None))
                .map_err(|e| format!("cannot resolve {name}: {e}")),
            Lookup::Server(resolver) => resolver
                .lookup_ip(name)
                .await
                .map(|ips| {
                    let ttl = ips.valid_until().saturating_duration_since(Instant::now());
                    (ips.iter().collect(), Some(ttl))
                })
                .map_err(|e| format!("cannot resolve {name}: {e}")),
        }
    }
}

#[derive(Clone)]
pub struct PinnedResolver {
    lookup: Lookup,
    pins: Arc<Mutex<HashMap<String, Pin>>>,
    min_pin: Duration,
}

impl std::fmt::Debug for PinnedResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinnedResolver")
            .field("min_pin", &self.min_pin)
            .finish_non_exhaustive()
    }
}

impl PinnedResolver {
    pub fn new(lookup: Lookup) -> Self {
        PinnedResolver {
            lookup,
            pins: Arc::default(),
            min_pin: MIN_PIN,
        }
    }

    /// Pins hold at least `min_pin` (tests shorten it).
    pub fn with_min_pin(mut self, min_pin: Duration) -> Self {
        self.min_pin = min_pin;
        self
    }

    fn pins(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pin>> {
        self.pins.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn new_pin(&self, addrs: Vec<IpAddr>, ttl: Option<Duration>) -> Pin {
        let networks = addrs.iter().map(|a| network(*a)).collect();
        Pin {
            addrs,
            networks,
            until: Instant::now() + ttl.unwrap_or(Duration::ZERO).max(self.min_pin),
            stale: false,
        }
    }

    /// Looks `name` up now and pins what it resolves to (a failure leaves it for first use).
    pub async fn pin(&self, name: &str) {
        if name.parse::<IpAddr>().is_ok() {
            return;
        }
        if let Ok((addrs, ttl)) = self.lookup.resolve(name).await
            && !addrs.is_empty()
        {
            let pin = self.new_pin(addrs, ttl);
            self.pins().entry(name.to_ascii_lowercase()).or_insert(pin);
        }
    }

    /// A connection to `name`'s pinned address failed: look it up again at its next use.
    pub fn mark_stale(&self, name: &str) {
        if let Some(pin) = self.pins().get_mut(&name.to_ascii_lowercase()) {
            pin.stale = true;
        }
    }

    /// The addresses to connect to: the pinned ones while the pin holds (whatever the name
    /// resolves to meanwhile, so a rebinding answer is never used), else the name's current
    /// ones if they stay within the network it was granted in.
    async fn checked(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        let key = name.to_ascii_lowercase();
        if let Some(pin) = self.pins().get(&key)
            && pin.until > Instant::now()
            && !pin.stale
        {
            return Ok(pin.addrs.clone());
        }
        let (found, ttl) = self.lookup.resolve(name).await?;
        let mut pins = self.pins();
        let Some(pin) = pins.get_mut(&key) else {
            let pin = self.new_pin(found.clone(), ttl);
            pins.insert(key, pin);
            return Ok(found);
        };
        let outside: Vec<IpAddr> = found
            .iter()
            .copied()
            .filter(|a| network(*a) == Network::Unusable || !pin.networks.contains(&network(*a)))
            .collect();
        if !outside.is_empty() {
            return Err(format!(
                "{name} moved from {:?} to {outside:?}, outside the network it was granted in: refused (DNS rebinding?)",
                pin.addrs
            ));
        }
        if found != pin.addrs {
            tracing::info!("{name} now resolves to {found:?} (was {:?})", pin.addrs);
        }
        let networks = pin.networks.clone();
        *pin = self.new_pin(found.clone(), ttl);
        pin.networks = networks;
        Ok(found)
    }
}

impl Resolve for PinnedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        Box::pin(async move {
            let addrs = this.checked(name.as_str()).await?;
            let addrs: Addrs = Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_fall_into_networks() {
        let cases = [
            ("127.0.0.1", Network::Loopback),
            ("::1", Network::Loopback),
            ("10.1.2.3", Network::Private),
            ("172.17.0.2", Network::Private),
            ("192.168.1.20", Network::Private),
            ("100.64.0.1", Network::Private),
            ("fd00::1", Network::Private),
            ("169.254.1.1", Network::LinkLocal),
            ("fe80::1", Network::LinkLocal),
            ("93.184.216.34", Network::Public),
            ("2606:4700::1", Network::Public),
            ("::ffff:192.168.1.1", Network::Private),
            ("0.0.0.0", Network::Unusable),
            ("224.0.0.1", Network::Unusable),
        ];
        for (ip, want) in cases {
            assert_eq!(network(ip.parse().unwrap()), want, "{ip}");
        }
    }
}
