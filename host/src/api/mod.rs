//! The HTTP surface (salvo): thin handlers over the engine and the live feed. Knows nothing of
//! wasmtime.

pub mod access;
mod active_list;
mod download_routes;
mod error;
mod events;
mod export;
pub mod host_names;
mod input;
pub mod live;
mod login;
mod manager_routes;
mod metrics_route;
mod pages;
mod plugin_routes;
mod state;
mod stats_body;

use std::net::SocketAddr;
use std::time::Duration;

use salvo::conn::tcp::TcpAcceptor;
use salvo::oapi::OpenApi;
use salvo::oapi::swagger_ui::SwaggerUi;
use salvo::prelude::*;
use salvo::server::ServerHandle;

pub use error::ApiError;
pub use state::AppState;

/// Unknown routes under `/api` answer 404 in JSON.
#[handler]
async fn not_found(req: &mut Request, res: &mut Response) {
    ApiError::not_found(format!("no route {} {}", req.method(), req.uri().path())).write(res);
}

/// Every route, with the OpenAPI document generated from them; `/metrics` only when
/// `metrics` is on (off, it answers 404 like any unknown path).
pub fn router(
    state: AppState,
    access: std::sync::Arc<access::AccessPolicy>,
    hosts: host_names::AllowedHosts,
    metrics: bool,
) -> Router {
    use download_routes as d;
    use manager_routes as m;
    use pages as p;
    // The routes integrations poll come first: salvo tries a router's children in order.
    let manager = Router::with_path("manager")
        .push(Router::with_path("stats").get(m::stats))
        .push(Router::with_path("active").get(m::active))
        .push(Router::with_path("events").get(events::events))
        .push(Router::with_path("center").get(p::center))
        .push(Router::with_path("htmx/active-list").get(p::active_list))
        .push(Router::with_path("htmx/stats-bar").get(p::stats_bar))
        .push(Router::with_path("htmx/provider-health").get(p::provider_health))
        .push(Router::with_path("htmx/provider-health-mini").get(p::provider_health_mini))
        .push(Router::with_path("htmx/plugins").get(p::plugins))
        .push(Router::with_path("center/htmx/queue").get(p::queue))
        .push(Router::with_path("center/htmx/history").get(p::history))
        .push(Router::with_path("center/htmx/failed").get(p::failed))
        .push(Router::with_path("health").get(m::health))
        .push(Router::with_path("providers/{id}/reconnect").post(m::reconnect))
        .push(Router::with_path("retry-all-failed").post(m::retry_all_failed))
        .push(Router::with_path("clear-failed").delete(m::clear_failed))
        .push(Router::with_path("history/clear").delete(m::clear_history))
        .push(Router::with_path("export").get(export::export));
    let downloads = Router::with_path("api/downloads")
        .post(d::create)
        .push(manager)
        .push(Router::with_path("batch-action").post(d::batch))
        .push(Router::with_path("pause").post(d::pause_queue))
        .push(Router::with_path("resume").post(d::resume_queue))
        .push(
            Router::with_path("{id}")
                .get(d::get_one)
                .push(Router::with_path("cancel").post(d::cancel))
                .push(Router::with_path("retry").post(d::retry))
                .push(Router::with_path("pause").post(d::pause))
                .push(Router::with_path("resume").post(d::resume))
                .push(Router::with_path("priority").patch(d::set_priority)),
        );
    let plugins = Router::with_path("api/plugins")
        .get(plugin_routes::list)
        .push(Router::with_path("reload").post(plugin_routes::reload))
        .push(Router::with_path("{id}").get(plugin_routes::get_one));
    let providers = Router::with_path("api/providers/{id}/peers").get(m::provider_peers);
    let api = Router::new().push(downloads).push(plugins).push(providers);
    let doc = OpenApi::new("Tributary", env!("CARGO_PKG_VERSION")).merge_router(&api);
    let mut root = Router::new();
    if metrics {
        // Only counted requests need to know whether a route matched.
        root = root.hoop(metrics_route::mark_matched);
    }
    root = root
        .hoop(salvo::affix_state::inject(std::sync::Arc::new(state)))
        .hoop(access::Gate {
            policy: access,
            hosts,
        })
        .hoop(compression())
        .push(
            Router::with_path("login")
                .get(login::show)
                .post(login::submit),
        )
        .push(Router::with_path("logout").post(login::logout))
        .push(api)
        .push(doc.into_router("api/openapi.json"))
        .push(SwaggerUi::new("/api/openapi.json").into_router("api/docs"))
        .push(Router::with_path("api/{**rest}").goal(not_found))
        .push(Router::with_path("static/{**path}").get(pages::static_file))
        .push(Router::with_path("download-center").get(pages::center))
        .push(Router::with_path("favicon.ico").get(pages::favicon))
        .push(Router::new().get(pages::center));
    if metrics {
        root = root.push(Router::with_path("metrics").get(metrics_route::metrics));
    }
    root
}

/// The router, behind the hoop that counts every request (matched or not) into `metrics` when
/// they are served: with `/metrics` off, nobody reads the counts, and every request would pay
/// for them.
pub fn service(router: Router, metrics: Option<crate::metrics::Metrics>) -> Service {
    let service = Service::new(router);
    match metrics {
        Some(metrics) => service.hoop(metrics_route::CountRequests { metrics }),
        None => service,
    }
}

/// gzip for pages, partials, JSON, CSV and assets: a 1,000-row `/active` or `/center` shrinks
/// to a tenth on a phone's Wi-Fi. Not for the event stream, whose updates must leave at once
/// rather than wait in an encoder's buffer.
fn compression() -> salvo_compression::Compression {
    use salvo::http::mime;
    salvo_compression::Compression::new()
        .disable_all()
        .enable_gzip(salvo_compression::CompressionLevel::Fastest)
        .content_types(&[
            mime::TEXT_HTML,
            mime::TEXT_CSS,
            mime::TEXT_CSV,
            mime::TEXT_JAVASCRIPT,
            mime::APPLICATION_JAVASCRIPT,
            mime::APPLICATION_JSON,
            mime::IMAGE_SVG,
        ])
}

/// A running HTTP server.
pub struct HttpServer {
    pub addr: SocketAddr,
    handle: ServerHandle,
    task: tokio::task::JoinHandle<()>,
}

impl HttpServer {
    /// Binds the listening socket. TCP_NODELAY is set on it, and Linux hands it on to every
    /// accepted connection: without it the last small chunk of a streamed (gzipped) answer waits
    /// for the client's delayed ACK, 40 ms a response.
    pub fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.set_nodelay(true)?;
        socket.bind(addr)?;
        socket.listen(1024)
    }

    /// Serves `router` on an already bound listener.
    pub fn start(
        listener: tokio::net::TcpListener,
        service: Service,
    ) -> std::io::Result<HttpServer> {
        let addr = listener.local_addr()?;
        let acceptor = TcpAcceptor::try_from(listener)?;
        let server = Server::new(acceptor);
        let handle = server.handle();
        let task = tokio::spawn(server.serve(service));
        Ok(HttpServer { addr, handle, task })
    }

    /// Stops accepting, lets requests in flight finish (bounded), then returns.
    pub async fn stop(self, grace: Duration) {
        self.handle.stop_graceful(Some(grace));
        if tokio::time::timeout(grace + Duration::from_secs(1), self.task)
            .await
            .is_err()
        {
            tracing::warn!("the HTTP server did not stop within {grace:?}");
        }
    }
}
