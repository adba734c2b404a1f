//! `mcp-bench llm`: streamed Messages requests (`POST <base>/v1/messages`, `"stream": true`)
//! against an Anthropic API — the gateway's proxy (`<gateway>/anthropic`) or the upstream
//! itself — each timed from sending the request to the first bytes of the answer's body (time
//! to first byte) and to the end of the stream, on keep-alive connections.
//!
//! With one path, `--concurrency` workers share the requests, as `calls` does. With two
//! (`--url-b`, concurrency 1 only) the requests alternate one by one between them (A B, B A,
//! …, as `paired` does), so both are measured over the same seconds and whatever else the
//! machine does falls on both alike. CPU time of the watched processes is read around the
//! measured phase only.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use axum::body::Bytes;
use reqwest::{
    Url,
    header::{ACCEPT, CONTENT_TYPE, HeaderValue},
};
use tokio::sync::Barrier;

use crate::{
    calls::{per_call_ms, per_thread_group_ms, read_cpu_times, sample_peak_rss},
    procfs::{self, ProcId, WatchedProcess},
    results::{Connections, LlmResult, ProcessUsage},
    session::http_client,
    stats::{self, LatencySummary},
};

/// The API version every request names, as the SDKs send it.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// How much of an error answer a result keeps.
const MAX_ERROR_CHARS: usize = 200;

/// One path to the API.
#[derive(Debug, Clone)]
pub struct LlmSide {
    /// The Messages endpoint (`<base>/v1/messages`).
    pub url: Url,
    pub label: String,
    /// The path's own server (the gateway, a relay), read under the path's label and charged
    /// per request of this path.
    pub pid: Option<u32>,
    /// `x-api-key` of every request on this path, marked sensitive.
    pub api_key: Option<HeaderValue>,
}

/// A validated `llm` run.
#[derive(Debug, Clone)]
pub struct LlmPlan {
    pub a: LlmSide,
    /// A second path, interleaved with the first request by request (concurrency 1).
    pub b: Option<LlmSide>,
    pub concurrency: usize,
    /// Measured requests per path.
    pub requests: usize,
    /// Unmeasured requests per worker (per path when interleaved) first.
    pub warmup: usize,
    pub request_timeout: Duration,
    pub time_cap: Option<Duration>,
    /// More processes to read (the upstream), charged per request of every path.
    pub watched: Vec<WatchedProcess>,
    /// The request body, the same for every request.
    pub body: Bytes,
}

/// `<base>/v1/messages`: `http://127.0.0.1:8000/anthropic` gives
/// `http://127.0.0.1:8000/anthropic/v1/messages`.
pub fn messages_url(base: &Url) -> Result<Url, String> {
    let text = format!("{}/v1/messages", base.as_str().trim_end_matches('/'));
    Url::parse(&text).map_err(|error| format!("{text}: {error}"))
}

/// The Messages request every measured request sends.
pub fn request_body(model: &str, max_tokens: u64, prompt: &str) -> Bytes {
    let body = serde_json::json!({
        "model": model,
        "max_tokens": max_tokens,
        "stream": true,
        "messages": [{"role": "user", "content": prompt}],
    });
    Bytes::from(body.to_string())
}

/// Counts the server-sent events of a stream read in pieces (an event ends with a blank
/// line), and remembers its last bytes to tell how it ended.
#[derive(Debug, Default)]
pub struct StreamReader {
    pub events: usize,
    pub bytes: usize,
    pub reads: usize,
    ended_with_newline: bool,
    tail: Vec<u8>,
}

/// The end of a complete Messages stream.
const LAST_EVENT: &[u8] = b"event: message_stop\n";
const TAIL_BYTES: usize = 256;

impl StreamReader {
    pub fn push(&mut self, chunk: &[u8]) {
        if chunk.is_empty() {
            return;
        }
        self.reads += 1;
        self.bytes += chunk.len();
        if self.ended_with_newline && chunk[0] == b'\n' {
            self.events += 1;
        }
        self.events += chunk.windows(2).filter(|pair| pair == b"\n\n").count();
        self.ended_with_newline = chunk.ends_with(b"\n");
        self.tail.extend_from_slice(chunk);
        if self.tail.len() > TAIL_BYTES {
            self.tail.drain(..self.tail.len() - TAIL_BYTES);
        }
    }

    /// Whether the last event was `message_stop`, complete.
    pub fn complete(&self) -> bool {
        if !self.tail.ends_with(b"\n\n") {
            return false;
        }
        let body = &self.tail[..self.tail.len() - 2];
        let last = body
            .windows(2)
            .rposition(|pair| pair == b"\n\n")
            .map_or(body, |at| &body[at + 2..]);
        last.starts_with(LAST_EVENT)
    }
}

/// One complete stream's figures.
#[derive(Debug, Clone, Copy)]
struct Streamed {
    ttfb: Duration,
    total: Duration,
    events: usize,
    bytes: usize,
    reads: usize,
}

/// Sends one request and reads its stream to the end.
async fn stream_once(
    http: &reqwest::Client,
    side: &LlmSide,
    body: &Bytes,
) -> Result<Streamed, String> {
    let started = Instant::now();
    let mut request = http
        .post(side.url.clone())
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "text/event-stream")
        .header("anthropic-version", ANTHROPIC_VERSION)
        .body(body.clone());
    if let Some(key) = &side.api_key {
        request = request.header("x-api-key", key.clone());
    }
    let mut response = request
        .send()
        .await
        .map_err(|error| format!("POST failed: {error}"))?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        let text: String = text.chars().take(MAX_ERROR_CHARS).collect();
        return Err(format!("HTTP {status}: {text}"));
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if !content_type.starts_with("text/event-stream") {
        return Err(format!(
            "not an event stream: content-type {content_type:?}"
        ));
    }
    let mut first = None;
    let mut reader = StreamReader::default();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| format!("the stream broke off: {error}"))?
    {
        if first.is_none() && !chunk.is_empty() {
            first = Some(started.elapsed());
        }
        reader.push(&chunk);
    }
    let total = started.elapsed();
    let ttfb = first.ok_or("the answer had no body")?;
    if !reader.complete() {
        return Err("the stream did not end with message_stop".to_owned());
    }
    Ok(Streamed {
        ttfb,
        total,
        events: reader.events,
        bytes: reader.bytes,
        reads: reader.reads,
    })
}

/// [`stream_once`] within `timeout`.
async fn timed_stream(
    http: &reqwest::Client,
    side: &LlmSide,
    body: &Bytes,
    timeout: Duration,
) -> Result<Streamed, String> {
    match tokio::time::timeout(timeout, stream_once(http, side, body)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!("no complete stream within {timeout:?}")),
    }
}

/// What one path (or one worker) collected.
#[derive(Debug, Default)]
struct Tally {
    ttfb: Vec<Duration>,
    total: Vec<Duration>,
    events: usize,
    bytes: usize,
    reads: usize,
    /// Time spent in this path's requests, failed ones included.
    busy: Duration,
    errors: usize,
    first_error: Option<String>,
    /// Unmeasured requests sent first.
    warmups: usize,
}

impl Tally {
    fn record(&mut self, started: Instant, outcome: Result<Streamed, String>) {
        self.busy += started.elapsed();
        match outcome {
            Ok(streamed) => {
                self.ttfb.push(streamed.ttfb);
                self.total.push(streamed.total);
                self.events += streamed.events;
                self.bytes += streamed.bytes;
                self.reads += streamed.reads;
            }
            Err(error) => {
                self.errors += 1;
                self.first_error.get_or_insert(error);
            }
        }
    }

    fn merge(&mut self, other: Tally) {
        self.ttfb.extend(other.ttfb);
        self.total.extend(other.total);
        self.events += other.events;
        self.bytes += other.bytes;
        self.reads += other.reads;
        self.busy += other.busy;
        self.errors += other.errors;
        self.first_error = self.first_error.take().or(other.first_error);
        self.warmups += other.warmups;
    }

    fn ok(&self) -> usize {
        self.ttfb.len()
    }

    fn requests(&self) -> usize {
        self.ok() + self.errors
    }

    fn mean(&self, sum: usize) -> Option<f64> {
        (self.ok() > 0).then(|| sum as f64 / self.ok() as f64)
    }
}

/// Which path goes first in pair `index`: A, then B, then B, then A, …
fn order(index: usize) -> [usize; 2] {
    if index.is_multiple_of(2) {
        [0, 1]
    } else {
        [1, 0]
    }
}

/// The processes read around the measured phase: each path's own server first (A's, then
/// B's, named by their path's label), then the others.
fn watched_processes(plan: &LlmPlan) -> Vec<WatchedProcess> {
    std::iter::once(&plan.a)
        .chain(plan.b.as_ref())
        .filter_map(|side| {
            Some(WatchedProcess {
                name: side.label.clone(),
                pid: side.pid?,
            })
        })
        .chain(plan.watched.iter().cloned())
        .collect()
}

/// One result per path, A first.
pub async fn run(plan: LlmPlan) -> Result<Vec<LlmResult>> {
    let http = http_client(Connections::KeepAlive, None)?;
    let plan = Arc::new(plan);
    let watched = watched_processes(&plan);
    let ticks_per_second = procfs::clock_ticks_per_second();

    // Warm-up (workers wait at the start line), then the counters, then the measured phase.
    let (tallies, elapsed, readings) = if plan.b.is_some() {
        interleaved(&http, &plan, &watched, ticks_per_second).await
    } else {
        concurrent(&http, &plan, &watched, ticks_per_second).await?
    };

    let sides: Vec<&LlmSide> = std::iter::once(&plan.a).chain(plan.b.as_ref()).collect();
    let all_requests: usize = tallies.iter().map(Tally::requests).sum();
    let client_cpu_ms_per_request = readings
        .client_cpu
        .map(|cpu| per_call_ms(cpu, all_requests));
    let mut own_index = 0;
    let mut results = Vec::with_capacity(sides.len());
    for (position, (side, mut tally)) in sides.iter().zip(tallies).enumerate() {
        let requests = tally.requests();
        let mut processes = Vec::new();
        if side.pid.is_some() {
            processes.extend(readings.usage(own_index, requests, ticks_per_second));
            own_index += 1;
        }
        let others_from = sides.iter().filter(|side| side.pid.is_some()).count();
        for index in others_from..watched.len() {
            processes.extend(readings.usage(index, all_requests, ticks_per_second));
        }
        let interleaved = sides.len() == 2;
        let other = interleaved.then(|| sides[1 - position].label.clone());
        // Interleaved, a path's time is the time spent in its own requests: its throughput
        // is what one client gets from it, not half of that.
        let elapsed = if interleaved { tally.busy } else { elapsed };
        results.push(LlmResult {
            label: side.label.clone(),
            url: side.url.to_string(),
            concurrency: plan.concurrency,
            requests,
            warmup_requests: tally.warmups,
            capped: false,
            ok: tally.ok(),
            errors: tally.errors,
            elapsed_s: elapsed.as_secs_f64(),
            throughput_per_s: stats::throughput(tally.ok(), elapsed),
            events_per_stream: tally.mean(tally.events),
            bytes_per_stream: tally.mean(tally.bytes),
            reads_per_stream: tally.mean(tally.reads),
            ttfb: LatencySummary::from_samples(&mut tally.ttfb),
            total: LatencySummary::from_samples(&mut tally.total),
            processes,
            client_cpu_ms_per_request,
            first_error: tally.first_error,
            interleaved_with: other,
        });
    }
    // A run stopped by its cap says so on every path.
    let capped = results.iter().any(|result| result.requests < plan.requests);
    for result in &mut results {
        result.capped = capped;
    }
    Ok(results)
}

/// The counters read before and after the measured phase.
struct Readings {
    watched: Vec<WatchedProcess>,
    cpu_before: Vec<Option<Duration>>,
    cpu_after: Vec<Option<Duration>>,
    threads_before: Vec<BTreeMap<String, u64>>,
    threads_after: Vec<BTreeMap<String, u64>>,
    peaks: Vec<u64>,
    client_cpu: Option<Duration>,
}

/// Reads the counters at the start of the measured phase; [`Phase::end`] reads them again.
struct Phase {
    watched: Vec<WatchedProcess>,
    ticks_per_second: u64,
    cpu_before: Vec<Option<Duration>>,
    threads_before: Vec<BTreeMap<String, u64>>,
    client_before: Option<Duration>,
    sampling: Arc<AtomicBool>,
    sampler: tokio::task::JoinHandle<Vec<u64>>,
    started: Instant,
}

impl Phase {
    fn start(watched: &[WatchedProcess], ticks_per_second: u64) -> Phase {
        let sampling = Arc::new(AtomicBool::new(true));
        Phase {
            watched: watched.to_vec(),
            ticks_per_second,
            cpu_before: read_cpu_times(watched, ticks_per_second),
            threads_before: watched
                .iter()
                .map(|process| procfs::read_thread_group_ticks(process.pid))
                .collect(),
            client_before: procfs::read_cpu_time(ProcId::SelfProcess, ticks_per_second).ok(),
            sampler: tokio::spawn(sample_peak_rss(watched.to_vec(), Arc::clone(&sampling))),
            sampling,
            started: Instant::now(),
        }
    }

    async fn end(self) -> (Duration, Readings) {
        let elapsed = self.started.elapsed();
        let cpu_after = read_cpu_times(&self.watched, self.ticks_per_second);
        let threads_after = self
            .watched
            .iter()
            .map(|process| procfs::read_thread_group_ticks(process.pid))
            .collect();
        let client_after = procfs::read_cpu_time(ProcId::SelfProcess, self.ticks_per_second).ok();
        self.sampling.store(false, Ordering::Relaxed);
        let peaks = self.sampler.await.unwrap_or_default();
        let client_cpu = self
            .client_before
            .zip(client_after)
            .map(|(before, after)| after.saturating_sub(before));
        (
            elapsed,
            Readings {
                watched: self.watched,
                cpu_before: self.cpu_before,
                cpu_after,
                threads_before: self.threads_before,
                threads_after,
                peaks,
                client_cpu,
            },
        )
    }
}

impl Readings {
    /// What watched process `index` spent, charged to `requests`.
    fn usage(&self, index: usize, requests: usize, ticks_per_second: u64) -> Option<ProcessUsage> {
        let process = self.watched.get(index)?;
        let before = self.cpu_before.get(index).copied().flatten()?;
        let after = self.cpu_after.get(index).copied().flatten()?;
        let cpu = after.saturating_sub(before);
        let rss_end_kib = procfs::read_rss_kib(ProcId::Pid(process.pid)).unwrap_or(0);
        Some(ProcessUsage {
            name: process.name.clone(),
            pid: process.pid,
            cpu_s: cpu.as_secs_f64(),
            cpu_ms_per_call: per_call_ms(cpu, requests),
            rss_peak_kib: self.peaks.get(index).copied().unwrap_or(0).max(rss_end_kib),
            rss_end_kib,
            threads_cpu_ms_per_call: per_thread_group_ms(
                &self.threads_before[index],
                &self.threads_after[index],
                ticks_per_second,
                requests,
            ),
        })
    }
}

/// One path, `concurrency` workers taking requests until all are taken.
async fn concurrent(
    http: &reqwest::Client,
    plan: &Arc<LlmPlan>,
    watched: &[WatchedProcess],
    ticks_per_second: u64,
) -> Result<(Vec<Tally>, Duration, Readings)> {
    let start_line = Arc::new(Barrier::new(plan.concurrency + 1));
    let next_request = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..plan.concurrency)
        .map(|_| {
            let (http, plan) = (http.clone(), Arc::clone(plan));
            let (start_line, next_request) = (Arc::clone(&start_line), Arc::clone(&next_request));
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let warmup_deadline = plan.time_cap.map(|cap| Instant::now() + cap / 5);
                for _ in 0..plan.warmup {
                    if warmup_deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                        break;
                    }
                    // Warm-up failures show again in the measured phase, where they count.
                    let _ = timed_stream(&http, &plan.a, &plan.body, plan.request_timeout).await;
                    tally.warmups += 1;
                }
                start_line.wait().await;
                let deadline = plan.time_cap.map(|cap| Instant::now() + cap);
                while next_request.fetch_add(1, Ordering::Relaxed) < plan.requests {
                    if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                        break;
                    }
                    let started = Instant::now();
                    let outcome =
                        timed_stream(&http, &plan.a, &plan.body, plan.request_timeout).await;
                    tally.record(started, outcome);
                }
                tally
            })
        })
        .collect();
    start_line.wait().await;
    let phase = Phase::start(watched, ticks_per_second);
    let mut tally = Tally::default();
    for worker in workers {
        tally.merge(worker.await.context("a worker panicked")?);
    }
    let (elapsed, readings) = phase.end().await;
    Ok((vec![tally], elapsed, readings))
}

/// Two paths, one request at a time, alternating which goes first.
async fn interleaved(
    http: &reqwest::Client,
    plan: &LlmPlan,
    watched: &[WatchedProcess],
    ticks_per_second: u64,
) -> (Vec<Tally>, Duration, Readings) {
    let sides: [&LlmSide; 2] = [&plan.a, plan.b.as_ref().unwrap_or(&plan.a)];
    let mut tallies = [Tally::default(), Tally::default()];
    let warmup_deadline = plan.time_cap.map(|cap| Instant::now() + cap / 5);
    for index in 0..plan.warmup {
        if warmup_deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            break;
        }
        for side in order(index) {
            let _ = timed_stream(http, sides[side], &plan.body, plan.request_timeout).await;
            tallies[side].warmups += 1;
        }
    }
    let phase = Phase::start(watched, ticks_per_second);
    let deadline = plan.time_cap.map(|cap| Instant::now() + cap);
    for pair in 0..plan.requests {
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            break;
        }
        for side in order(pair) {
            let started = Instant::now();
            let outcome = timed_stream(http, sides[side], &plan.body, plan.request_timeout).await;
            tallies[side].record(started, outcome);
        }
    }
    let (elapsed, readings) = phase.end().await;
    (Vec::from(tallies), elapsed, readings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_messages_url_is_below_the_base() {
        let url = |text: &str| messages_url(&Url::parse(text).expect("url")).expect("joined");
        assert_eq!(
            url("http://127.0.0.1:9").as_str(),
            "http://127.0.0.1:9/v1/messages"
        );
        assert_eq!(
            url("http://127.0.0.1:9/anthropic/").as_str(),
            "http://127.0.0.1:9/anthropic/v1/messages"
        );
    }

    #[test]
    fn the_body_asks_for_a_stream() {
        let body: serde_json::Value =
            serde_json::from_slice(&request_body("claude-bench", 64, "Hi")).expect("json");
        assert_eq!(body["model"], "claude-bench");
        assert_eq!(body["stream"], true);
        assert_eq!(body["max_tokens"], 64);
        assert_eq!(body["messages"][0]["content"], "Hi");
    }

    #[test]
    fn events_are_counted_across_reads() {
        let stream = "event: message_start\ndata: {}\n\nevent: ping\ndata: {}\n\n\
                      event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        for split in 0..stream.len() {
            let mut reader = StreamReader::default();
            let (head, tail) = stream.as_bytes().split_at(split);
            reader.push(head);
            reader.push(tail);
            assert_eq!(reader.events, 3, "split at {split}");
            assert_eq!(reader.bytes, stream.len());
            assert!(reader.complete(), "split at {split}");
        }
    }

    #[test]
    fn a_stream_is_complete_only_after_message_stop() {
        let mut reader = StreamReader::default();
        reader.push(b"event: message_start\ndata: {}\n\n");
        assert!(!reader.complete());
        reader.push(b"event: message_stop\ndata: {}\n");
        assert!(!reader.complete(), "the event is not ended yet");
        reader.push(b"\n");
        assert!(reader.complete());
        let mut reader = StreamReader::default();
        reader.push(b"event: message_stop\ndata: {}\n\nevent: error\ndata: {}\n\n");
        assert!(!reader.complete());
        assert_eq!(reader.reads, 1);
    }

    #[test]
    fn interleaving_alternates_which_path_goes_first() {
        let sequence: Vec<usize> = (0..4).flat_map(order).collect();
        assert_eq!(sequence, [0, 1, 1, 0, 0, 1, 1, 0]);
    }

    #[test]
    fn tallies_merge_and_keep_the_first_error() {
        let mut a = Tally::default();
        let started = Instant::now();
        let streamed = Streamed {
            ttfb: Duration::from_micros(100),
            total: Duration::from_micros(300),
            events: 26,
            bytes: 2000,
            reads: 4,
        };
        a.record(started, Ok(streamed));
        a.record(started, Err("first".to_owned()));
        let mut b = Tally::default();
        b.record(started, Ok(streamed));
        b.record(started, Err("second".to_owned()));
        a.merge(b);
        assert_eq!((a.ok(), a.errors, a.requests()), (2, 2, 4));
        assert_eq!(a.mean(a.events), Some(26.0));
        assert_eq!(a.first_error.as_deref(), Some("first"));
        assert_eq!(Tally::default().mean(0), None);
    }
}
