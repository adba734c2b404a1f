//! `mcp-bench relay`: a TCP relay between the load generator and the backend, the cheapest
//! proxy there can be. It copies bytes both ways and understands nothing, so what it costs
//! per call — the system calls, wake-ups and context switches of one more hop over
//! loopback — is what any gateway pays on this machine before doing any work of its own.
//! `make bench` measures it beside the gateway to show how much of the gateway's CPU and
//! latency is the hop itself (docs/benchmarks.md, "The floor").

use std::time::Duration;

use anyhow::{Context, Result};
use tokio::net::{TcpListener, TcpStream};

/// Relay every connection accepted on `listen` to `to` until stopped. Prints
/// `LISTENING http://<address>` once bound (the caller adds the backend's path).
pub async fn run(listen: &str, to: &str) -> Result<()> {
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    println!("LISTENING http://{}", listener.local_addr()?);
    loop {
        let mut client = match listener.accept().await {
            Ok((client, _)) => client,
            Err(error) => {
                // Out of descriptors, a connection reset before it was taken: not the end.
                eprintln!("mcp-bench relay: accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let to = to.to_owned();
        tokio::spawn(async move {
            let Ok(mut backend) = TcpStream::connect(&to).await else {
                eprintln!("mcp-bench relay: cannot connect to {to}");
                return;
            };
            // As the gateway and the clients do: requests and answers are small.
            let _ = client.set_nodelay(true);
            let _ = backend.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
        });
    }
}
