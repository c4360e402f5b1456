//! Name resolution for plugin HTTP, pinned: a granted host name is looked up once (when the
//! plugin loads, or at its first use) and every later answer must stay within those addresses.
//! A name that starts pointing elsewhere — DNS rebinding, to reach a host the operator never
//! granted — is refused before any connection is made.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

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

    async fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        match self {
            Lookup::System => tokio::net::lookup_host((name, 0))
                .await
                .map(|addrs| addrs.map(|a| a.ip()).collect())
                .map_err(|e| format!("cannot resolve {name}: {e}")),
            Lookup::Server(resolver) => resolver
                .lookup_ip(name)
                .await
                .map(|ips| ips.iter().collect())
                .map_err(|e| format!("cannot resolve {name}: {e}")),
        }
    }
}

#[derive(Clone)]
pub struct PinnedResolver {
    lookup: Lookup,
    pins: Arc<Mutex<HashMap<String, Vec<IpAddr>>>>,
}

impl PinnedResolver {
    pub fn new(lookup: Lookup) -> Self {
        PinnedResolver {
            lookup,
            pins: Arc::default(),
        }
    }

    fn pins(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<IpAddr>>> {
        self.pins.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Looks `name` up now and pins what it resolves to (a failure leaves it for first use).
    pub async fn pin(&self, name: &str) {
        if name.parse::<IpAddr>().is_ok() {
            return;
        }
        if let Ok(addrs) = self.lookup.resolve(name).await
            && !addrs.is_empty()
        {
            self.pins()
                .entry(name.to_ascii_lowercase())
                .or_insert(addrs);
        }
    }

    async fn checked(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        let found = self.lookup.resolve(name).await?;
        let pinned = self
            .pins()
            .entry(name.to_ascii_lowercase())
            .or_insert_with(|| found.clone())
            .clone();
        let allowed: Vec<IpAddr> = found
            .iter()
            .copied()
            .filter(|a| pinned.contains(a))
            .collect();
        if allowed.is_empty() {
            return Err(format!(
                "{name} now resolves to {found:?}, not to the {pinned:?} it was granted with: refused (DNS rebinding?)"
            ));
        }
        Ok(allowed)
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
