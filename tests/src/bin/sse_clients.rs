//! Opens N Server-Sent Events connections and keeps reading them: `sse_clients <url> <n> <secs>`.
//! Prints how many stayed connected and the bytes received.

use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, n, secs] = args.as_slice() else {
        anyhow::bail!("usage: sse_clients <url> <n> <secs>")
    };
    let (n, secs): (usize, u64) = (n.parse()?, secs.parse()?);
    let client = tributary_tests::http_client_builder().build()?;
    let mut tasks = Vec::new();
    for _ in 0..n {
        let res = client.get(url).send().await?;
        tasks.push(tokio::spawn(async move {
            let mut res = res;
            let mut bytes = 0usize;
            let _ = tokio::time::timeout(Duration::from_secs(secs), async {
                while let Ok(Some(chunk)) = res.chunk().await {
                    bytes += chunk.len();
                }
            })
            .await;
            bytes
        }));
    }
    println!("connected {n}");
    let mut total = 0;
    for t in tasks {
        total += t.await?;
    }
    println!("received {total} bytes over {secs} s");
    Ok(())
}
