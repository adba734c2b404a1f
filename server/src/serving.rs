//! Serving threads: client connections are served by a few threads that each run their own
//! single-threaded Tokio runtime, one connection on one thread from its first byte to its
//! close.
//!
//! Why not the multi-threaded runtime the rest of the gateway runs on: a call there hops
//! between worker threads at every step — the connection's task, the backend connection's
//! task — and a parked worker is woken for each hop and parks again. At one call in flight
//! that was ~6.6 context switches per call and ~40 % of the gateway's CPU time
//! (docs/decisions.md). On a serving thread the same call wakes nothing but its own thread:
//! the backend connection is the thread's own (the upstream HTTP clients keep one
//! pool per thread), and the call's audit record is written there too.
//!
//! One task on the main runtime accepts and hands each connection to the next thread in turn
//! (round-robin). Everything else — backend supervision, rmcp clients, the audit writer,
//! reloads — stays on the main runtime; a call to a backend reached through rmcp crosses
//! over to it as before.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::serve::{Listener, ListenerExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// A connection accepted on the main runtime, still to be registered with a serving thread's
/// runtime.
type Accepted = (std::net::TcpStream, SocketAddr);

/// Serve `router` on `listener` with `threads` serving threads until `shutdown` is cancelled
/// (or this future is dropped), then let each thread finish its connections gracefully (as
/// `axum::serve` does) and return once every thread has stopped. Runs on the main runtime.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    threads: usize,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let local_addr = listener.local_addr()?;
    // Dropping this future stops the threads too, so that they never outlive their acceptor.
    let shutdown = shutdown.child_token();
    let _stop_threads_when_dropped = shutdown.clone().drop_guard();
    let mut handoffs = Vec::new();
    let mut stopped = Vec::new();
    for index in 0..threads.max(1) {
        let (handoff, connections) = mpsc::unbounded_channel::<Accepted>();
        let (done, finished) = oneshot::channel::<()>();
        let router = router.clone();
        let shutdown = shutdown.clone();
        std::thread::Builder::new()
            .name(format!("gateway-http-{index}"))
            .spawn(move || {
                run_thread(router, connections, local_addr, shutdown);
                let _ = done.send(());
            })
            .context("cannot start a serving thread")?;
        handoffs.push(handoff);
        stopped.push(finished);
    }
    accept(listener, &handoffs, &shutdown).await;
    drop(handoffs);
    for finished in stopped {
        // An error means the thread ended without saying so (it panicked): nothing to wait for.
        let _ = finished.await;
    }
    Ok(())
}

/// Accept until shutdown, handing connections round-robin to the serving threads.
async fn accept(
    listener: TcpListener,
    handoffs: &[mpsc::UnboundedSender<Accepted>],
    shutdown: &CancellationToken,
) {
    let mut next = 0;
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: the condition outlasts a retry
                    // loop, so wait a little (as axum::serve does).
                    tracing::error!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(stream) = stream.into_std() else {
            continue;
        };
        deal(handoffs, &mut next, (stream, peer));
    }
}

/// Hand `connection` to the serving thread `next` points at and move `next` on; a thread that
/// is gone (it could only have panicked) is passed over. `false` when none is left.
fn deal(
    handoffs: &[mpsc::UnboundedSender<Accepted>],
    next: &mut usize,
    mut connection: Accepted,
) -> bool {
    for _ in 0..handoffs.len() {
        let index = *next % handoffs.len();
        *next = next.wrapping_add(1);
        match handoffs[index].send(connection) {
            Ok(()) => return true,
            Err(mpsc::error::SendError(back)) => {
                tracing::error!("serving thread {index} is gone");
                connection = back;
            }
        }
    }
    tracing::error!(
        "no serving thread is left; connection from {} dropped",
        connection.1
    );
    false
}

/// One serving thread: its own runtime, serving the connections handed to it.
fn run_thread(
    router: Router,
    connections: mpsc::UnboundedReceiver<Accepted>,
    local_addr: SocketAddr,
    shutdown: CancellationToken,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!("cannot start a serving thread's runtime: {e}");
            return;
        }
    };
    runtime.block_on(async move {
        tokio::spawn(keep_a_timer_pending());
        let listener = HandedOff {
            connections,
            local_addr,
        }
        // Responses go out in several writes (headers, then events); without TCP_NODELAY
        // the second waits for the client's delayed ACK, ~40 ms on Linux.
        .tap_io(|tcp: &mut TcpStream| {
            let _ = tcp.set_nodelay(true);
        });
        let served = axum::serve(
            listener,
            // The peer address is the audit record's `client_ip`.
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
        if let Err(e) = served {
            tracing::error!("serving thread stopped: {e}");
        }
    });
}

/// The period of [`keep_a_timer_pending`]: shorter than any timer a call sets (the shortest,
/// the bound on draining a backend's event stream, is 5 s; `app.rs` holds the two together).
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// Keeps a timer due within [`HEARTBEAT`] pending on the serving thread.
///
/// Tokio's time driver wakes its own thread (an eventfd write, then an extra return from
/// `epoll_wait`) whenever a timer is set that is due before every timer it knew of when it
/// last went to sleep; with none pending, that is every timer. A call answered as an event
/// stream sets one (the bound on draining the rest of the stream, `upstream::http_call`), so
/// each such call paid two system calls and a pass of the runtime for it. With this timer
/// pending, timers due after it wake nothing; it costs one tick a second.
async fn keep_a_timer_pending() {
    let mut ticks = tokio::time::interval(HEARTBEAT);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
    }
}

/// The connections handed to one serving thread, as a listener for `axum::serve`.
struct HandedOff {
    connections: mpsc::UnboundedReceiver<Accepted>,
    local_addr: SocketAddr,
}

impl Listener for HandedOff {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let Some((stream, peer)) = self.connections.recv().await else {
                // The acceptor stopped: shutdown is under way and ends this serve loop.
                std::future::pending::<()>().await;
                continue;
            };
            match TcpStream::from_std(stream) {
                Ok(stream) => return (stream, peer),
                Err(e) => tracing::error!("cannot serve the connection from {peer}: {e}"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local_addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_go_round_robin_past_threads_that_are_gone() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let connection = || (std::net::TcpStream::connect(address).unwrap(), address);
        let (first, mut first_rx) = mpsc::unbounded_channel();
        let (gone, gone_rx) = mpsc::unbounded_channel();
        let (third, mut third_rx) = mpsc::unbounded_channel();
        drop(gone_rx);
        let handoffs = [first, gone, third];
        let mut next = 0;
        for _ in 0..4 {
            assert!(deal(&handoffs, &mut next, connection()));
        }
        // first, (gone) third, first, (gone) third
        let mut received = (0, 0);
        while first_rx.try_recv().is_ok() {
            received.0 += 1;
        }
        while third_rx.try_recv().is_ok() {
            received.1 += 1;
        }
        assert_eq!(received, (2, 2));
        drop(first_rx);
        drop(third_rx);
        assert!(!deal(&handoffs, &mut next, connection()), "none left");
    }
}
