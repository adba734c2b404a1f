//! Audit records on stdout (`AUDIT_TO_STDOUT`), one JSON line each, written by a thread of
//! its own so that a slow reader of stdout (a full pipe) never stalls a request.
//!
//! The queue is bounded; past the bound, lines are dropped and counted with a rate-limited
//! warning: stdout is a convenience copy, the file and the database are the record.

use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::time::Duration;

use super::throttle::Throttle;

/// Lines waiting for stdout before new ones are dropped.
const QUEUE: usize = 65_536;

enum Message {
    Line(String),
    /// Flush stdout, then answer.
    Flush(tokio::sync::oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct StdoutSink {
    sender: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
    warn: Arc<Throttle>,
}

impl std::fmt::Debug for StdoutSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdoutSink")
            .field("dropped", &self.dropped.load(Ordering::Relaxed))
            .finish()
    }
}

impl StdoutSink {
    /// Start the writer thread on the process's stdout.
    pub fn start() -> std::io::Result<StdoutSink> {
        Self::start_with(std::io::stdout())
    }

    /// Start the writer thread on any writer (tests).
    pub fn start_with<W: Write + Send + 'static>(out: W) -> std::io::Result<StdoutSink> {
        let (sender, receiver) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("audit-stdout".into())
            .spawn(move || write_lines(receiver, out))?;
        Ok(StdoutSink {
            sender,
            dropped: Arc::new(AtomicU64::new(0)),
            warn: Arc::new(Throttle::every_secs(30)),
        })
    }

    /// Queue one line (without its newline). Never blocks.
    pub fn send(&self, line: String) {
        match self.sender.try_send(Message::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if self.warn.ready() {
                    tracing::warn!(
                        dropped,
                        "stdout is not keeping up: audit lines dropped from stdout (file and database still have them)"
                    );
                }
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// Wait until every line queued so far is written and flushed.
    pub async fn flush(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.sender.try_send(Message::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }

    #[cfg(test)]
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// How long the thread lets lines gather after writing out everything it had, before it
/// waits for the next one. Without it a busy gateway woke the thread for every call (a futex
/// wake on the serving thread, a write and a sleep here); with it, lines of a busy second are
/// written a batch at a time, each at most this much later than it was queued.
const LINGER: Duration = Duration::from_millis(10);

fn write_lines<W: Write>(receiver: Receiver<Message>, out: W) {
    let mut out = BufWriter::new(out);
    while let Some(message) = next_message(&receiver, &mut out) {
        match message {
            Message::Line(line) => {
                let _ = out.write_all(line.as_bytes());
                let _ = out.write_all(b"\n");
            }
            Message::Flush(done) => {
                let _ = out.flush();
                let _ = done.send(());
            }
        }
    }
    let _ = out.flush();
}

/// The next message: at once when one is queued; else, once what was written is shown and
/// lines have had [`LINGER`] to gather, the next to arrive. `None` once every sender is gone.
fn next_message<W: Write>(receiver: &Receiver<Message>, out: &mut W) -> Option<Message> {
    match receiver.try_recv() {
        Ok(message) => return Some(message),
        Err(TryRecvError::Disconnected) => return None,
        Err(TryRecvError::Empty) => {}
    }
    let _ = out.flush();
    std::thread::sleep(LINGER);
    receiver.recv().ok()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn lines_arrive_in_order_after_a_flush() {
        let out = Shared::default();
        let sink = StdoutSink::start_with(out.clone()).unwrap();
        for i in 0..100 {
            sink.send(format!("{{\"n\":{i}}}"));
        }
        sink.flush().await;
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 100);
        assert_eq!(lines[0], "{\"n\":0}");
        assert_eq!(lines[99], "{\"n\":99}");
        assert_eq!(sink.dropped(), 0);
    }

    /// Wait (up to 10 s: a liveness bound, not a timing) until `out` holds `n` lines.
    fn wait_for_lines(out: &Shared, n: usize) -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
            let lines: Vec<String> = text.lines().map(str::to_owned).collect();
            if lines.len() >= n || std::time::Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn lines_show_up_without_a_flush_while_idle_and_when_the_sink_goes_away() {
        let out = Shared::default();
        let sink = StdoutSink::start_with(out.clone()).unwrap();
        sink.send("first".into());
        assert_eq!(wait_for_lines(&out, 1), ["first"]);
        // Long after the thread went back to waiting.
        std::thread::sleep(LINGER * 3);
        sink.send("second".into());
        assert_eq!(wait_for_lines(&out, 2), ["first", "second"]);
        for i in 0..50 {
            sink.send(format!("late {i}"));
        }
        drop(sink);
        let lines = wait_for_lines(&out, 52);
        assert_eq!(lines.len(), 52);
        assert_eq!(lines[51], "late 49");
    }
}
