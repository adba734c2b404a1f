//! The serving threads (`mcp_gateway::serving`) through real sockets: how connections are
//! dealt to threads, that each stays on its thread, the peer address handlers see, and how
//! serving stops (shutdown with a request in flight, and the serving future dropped).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A router whose `/thread` names the thread serving the request, `/peer` the peer address
/// it was given, and `/slow` answers after 300 ms.
fn router() -> Router {
    Router::new()
        .route(
            "/thread",
            get(|| async { std::thread::current().name().unwrap_or("?").to_owned() }),
        )
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "done"
            }),
        )
}

struct Served {
    address: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

async fn serve(threads: usize) -> Served {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(mcp_gateway::serving::serve(
        listener,
        router(),
        threads,
        shutdown.clone(),
    ));
    Served {
        address,
        shutdown,
        task,
    }
}

/// One GET on an open connection (HTTP/1.1 keep-alive); the body of the answer.
async fn get_on(stream: &mut TcpStream, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
            .await
            .expect("an answer within 10 s")
            .unwrap();
        assert!(read > 0, "connection closed before the answer was complete");
        answer.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().unwrap())
                })
                .expect("a content-length");
            if body.len() >= length {
                assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                return body[..length].to_owned();
            }
        }
    }
}

/// A connection on which one request was already answered by a serving thread.
async fn served_connection(served: &Served) -> TcpStream {
    let mut stream = TcpStream::connect(served.address).await.unwrap();
    let thread = get_on(&mut stream, "/thread").await;
    assert!(thread.starts_with("gateway-http-"), "{thread}");
    stream
}

/// Whether the gateway closes `stream` within 10 s (EOF or reset).
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buffer = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn connections_are_dealt_in_turn_and_each_stays_on_its_thread() {
    let served = serve(3).await;
    let mut connections = Vec::new();
    for _ in 0..6 {
        let mut stream = TcpStream::connect(served.address).await.unwrap();
        // Served before the next connection is opened, so the order of accepting is known.
        let first = get_on(&mut stream, "/thread").await;
        connections.push((stream, first));
    }
    let threads: Vec<&str> = connections.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        threads,
        [
            "gateway-http-0",
            "gateway-http-1",
            "gateway-http-2",
            "gateway-http-0",
            "gateway-http-1",
            "gateway-http-2"
        ]
    );
    for (stream, first) in &mut connections {
        for _ in 0..3 {
            assert_eq!(get_on(stream, "/thread").await, *first);
        }
    }
    served.shutdown.cancel();
    served.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn handlers_see_the_peer_address() {
    let served = serve(2).await;
    for _ in 0..2 {
        let mut stream = TcpStream::connect(served.address).await.unwrap();
        let local = stream.local_addr().unwrap();
        assert_eq!(get_on(&mut stream, "/peer").await, local.to_string());
    }
    served.shutdown.cancel();
    served.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish_then_closes_and_returns() {
    let served = serve(2).await;
    let mut idle = served_connection(&served).await;
    let mut busy = TcpStream::connect(served.address).await.unwrap();
    let slow = tokio::spawn(async move { get_on(&mut busy, "/slow").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    served.shutdown.cancel();
    assert_eq!(slow.await.unwrap(), "done");
    assert!(
        closed_by_server(&mut idle).await,
        "idle connection left open"
    );
    tokio::time::timeout(Duration::from_secs(10), served.task)
        .await
        .expect("serve returns once the threads stopped")
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(served.address).await.is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test]
async fn dropping_the_serving_future_stops_its_threads() {
    let served = serve(2).await;
    let mut open = served_connection(&served).await;
    served.task.abort();
    assert!(served.task.await.unwrap_err().is_cancelled());
    assert!(
        closed_by_server(&mut open).await,
        "a connection outlived the serving future"
    );
    assert!(
        !served.shutdown.is_cancelled(),
        "the caller's token is untouched"
    );
}
