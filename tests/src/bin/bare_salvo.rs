//! The framework's own ceiling, for the HTTP benchmarks: a bare salvo server, bound the way
//! Tributary binds, answering one fixed JSON body on every path. `bare_salvo <body file>`;
//! prints its address, serves until killed.

use salvo::prelude::*;

#[derive(Clone)]
struct Body(bytes::Bytes);

#[handler]
async fn answer(depot: &mut Depot, res: &mut Response) {
    let body = depot
        .get_typed::<Body>()
        .map(|b| b.0.clone())
        .unwrap_or_default();
    res.headers_mut().insert(
        salvo::http::header::CONTENT_TYPE,
        salvo::http::HeaderValue::from_static("application/json"),
    );
    res.body(body);
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, file] = args.as_slice() else {
        anyhow::bail!("usage: bare_salvo <body file>")
    };
    let body = Body(bytes::Bytes::from(std::fs::read(file)?));
    let router = Router::new()
        .hoop(salvo::affix_state::inject(body))
        .push(Router::with_path("{**rest}").get(answer));
    let listener = tributary::api::HttpServer::bind("127.0.0.1:0".parse()?)?;
    let server = tributary::api::HttpServer::start(listener, Service::new(router))?;
    println!("http://{}", server.addr);
    tributary::app::shutdown_signal().await;
    Ok(())
}
