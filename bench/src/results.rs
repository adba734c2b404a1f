//! The records the measuring subcommands print, one JSON object per line, and the report
//! reads back. `kind` tells them apart; `label` says which path was measured (`direct`,
//! `gateway`, or what the caller chose).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stats::LatencySummary;

/// One line of a results file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    Calls(CallsResult),
    Sessions(SessionsResult),
    Rss(RssResult),
    Fanout(FanoutResult),
    MachineLoad(MachineLoadResult),
    /// Streamed Messages requests to an Anthropic API (the gateway's proxy or the upstream).
    Llm(LlmResult),
}

impl Record {
    /// The record as one JSON line (no trailing newline).
    pub fn to_json_line(&self) -> String {
        // Serializing plain structs of numbers and strings cannot fail; the fallback keeps the
        // output a valid JSON line all the same.
        serde_json::to_string(self).unwrap_or_else(|error| {
            format!("{{\"kind\":\"error\",\"error\":{:?}}}", error.to_string())
        })
    }
}

/// Which MCP client sent the calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// The rmcp SDK client (what a Rust MCP client does).
    Rmcp,
    /// Hand-written JSON-RPC over a pooled HTTP client: the least client-side cost.
    Raw,
}

/// How the load generator's HTTP client uses TCP connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Connections {
    /// Keep-alive pooling, as browsers, httpx and most MCP clients do.
    KeepAlive,
    /// A new TCP connection per request, as rmcp's default HTTP client does.
    Fresh,
}

/// `tools/call` under load at one concurrency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallsResult {
    pub label: String,
    pub tool: String,
    pub client: ClientKind,
    pub connections: Connections,
    pub concurrency: usize,
    /// Calls in the measured phase (warm-up excluded).
    pub calls: usize,
    /// The phase hit its time cap before making every requested call.
    #[serde(default)]
    pub capped: bool,
    pub ok: usize,
    /// Transport failures, JSON-RPC errors and results with `isError`.
    pub errors: usize,
    pub elapsed_s: f64,
    /// Successful calls per second of the measured phase.
    pub throughput_per_s: f64,
    /// Latency of the successful calls; `None` when none succeeded.
    pub latency: Option<LatencySummary>,
    /// CPU and memory of the watched processes over the measured phase.
    pub processes: Vec<ProcessUsage>,
    /// CPU the load generator itself spent per call.
    pub client_cpu_ms_per_call: Option<f64>,
    /// Why the first failed call failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// The label of the run whose calls alternated one by one with these (`paired`), absent
    /// for a run on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interleaved_with: Option<String>,
}

impl CallsResult {
    /// The usage of the watched process called `name`, if it was watched and readable.
    pub fn process(&self, name: &str) -> Option<&ProcessUsage> {
        self.processes.iter().find(|process| process.name == name)
    }
}

/// What one watched process spent during a measured phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessUsage {
    pub name: String,
    pub pid: u32,
    /// User + system CPU seconds over the measured phase, all threads.
    pub cpu_s: f64,
    pub cpu_ms_per_call: f64,
    /// Highest VmRSS sampled during the phase.
    pub rss_peak_kib: u64,
    /// VmRSS at the end of the phase.
    pub rss_end_kib: u64,
    /// CPU milliseconds per call of each group of threads (threads named alike but for a
    /// trailing number, as `procfs::thread_group` has them), for seeing where the time went.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub threads_cpu_ms_per_call: BTreeMap<String, f64>,
}

/// Opening MCP sessions: from `initialize` to the first `tools/list` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionsResult {
    pub label: String,
    pub client: ClientKind,
    pub connections: Connections,
    pub sessions: usize,
    pub errors: usize,
    /// Tools the last session listed.
    pub tools_listed: usize,
    pub open: Option<LatencySummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// Resident memory of one process at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RssResult {
    pub label: String,
    pub pid: u32,
    pub rss_kib: u64,
}

/// How busy the machine was with work other than the benchmark's, over an interval in which
/// the benchmark's own processes were idle or not started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineLoadResult {
    /// When it was measured (`before`, `after`).
    pub label: String,
    /// The interval actually measured.
    pub elapsed_s: f64,
    /// Share of all CPUs' time spent running something in this machine.
    pub busy_pct: Option<f64>,
    /// Share of all CPUs' time the hypervisor gave to other guests.
    pub steal_pct: Option<f64>,
    /// Share of the interval during which some task here waited for a CPU (PSI `some`).
    pub pressure_pct: Option<f64>,
}

/// Streamed `POST /v1/messages` requests at one concurrency, each timed to the first bytes of
/// its body and to the end of its stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmResult {
    /// Which path (`direct`, `gateway`, `relay_direct`, `relay`).
    pub label: String,
    /// The Messages URL requested.
    pub url: String,
    pub concurrency: usize,
    /// Requests in the measured phase (warm-up excluded).
    pub requests: usize,
    /// Unmeasured requests sent on this path before the measured phase.
    #[serde(default)]
    pub warmup_requests: usize,
    /// The phase hit its time cap before making every requested request.
    #[serde(default)]
    pub capped: bool,
    pub ok: usize,
    /// Transport failures, non-2xx answers and streams that did not end with `message_stop`.
    pub errors: usize,
    pub elapsed_s: f64,
    /// Complete streams per second of the measured phase.
    pub throughput_per_s: f64,
    /// From sending the request to holding the first bytes of the answer's body.
    pub ttfb: Option<LatencySummary>,
    /// From sending the request to the end of the stream.
    pub total: Option<LatencySummary>,
    /// Means over the successful streams: server-sent events, body bytes, and the pieces the
    /// client's reads returned them in.
    pub events_per_stream: Option<f64>,
    pub bytes_per_stream: Option<f64>,
    pub reads_per_stream: Option<f64>,
    /// CPU and memory of the watched processes over the measured phase: the path's own server
    /// (named by the path's label) per request of this path, the others (`upstream`) per
    /// request of every path measured in the same phase.
    pub processes: Vec<ProcessUsage>,
    /// CPU the load generator itself spent per request.
    pub client_cpu_ms_per_request: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// The label of the path whose requests alternated one by one with these, absent for a
    /// run on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interleaved_with: Option<String>,
}

impl LlmResult {
    /// The usage of the watched process called `name`, if it was watched and readable.
    pub fn process(&self, name: &str) -> Option<&ProcessUsage> {
        self.processes.iter().find(|process| process.name == name)
    }
}

/// Wall time of single calls, typically of a broadcast tool fanning out to many backends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FanoutResult {
    pub label: String,
    pub tool: String,
    pub client: ClientKind,
    pub connections: Connections,
    pub calls: usize,
    pub errors: usize,
    /// Bytes of the result payload of the last call (text content and structured content).
    pub result_bytes: usize,
    pub wall: Option<LatencySummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_json_lines() {
        let record = Record::Rss(RssResult {
            label: "gateway_idle".to_owned(),
            pid: 42,
            rss_kib: 9000,
        });
        let line = record.to_json_line();
        assert!(line.starts_with("{\"kind\":\"rss\""), "{line}");
        assert!(!line.contains('\n'));
        let back: Record = serde_json::from_str(&line).expect("parses");
        assert_eq!(back, record);
    }

    #[test]
    fn calls_record_finds_its_processes() {
        let result = CallsResult {
            label: "gateway".to_owned(),
            tool: "bench__echo".to_owned(),
            client: ClientKind::Rmcp,
            connections: Connections::KeepAlive,
            concurrency: 1,
            calls: 10,
            capped: false,
            ok: 10,
            errors: 0,
            elapsed_s: 0.01,
            throughput_per_s: 1000.0,
            latency: None,
            processes: vec![ProcessUsage {
                name: "gateway".to_owned(),
                pid: 7,
                cpu_s: 0.001,
                cpu_ms_per_call: 0.1,
                rss_peak_kib: 10,
                rss_end_kib: 9,
                threads_cpu_ms_per_call: BTreeMap::from([("gateway-http".to_owned(), 0.08)]),
            }],
            client_cpu_ms_per_call: None,
            first_error: None,
            interleaved_with: None,
        };
        assert_eq!(result.process("gateway").map(|p| p.pid), Some(7));
        assert!(result.process("backend").is_none());
        let line = Record::Calls(result.clone()).to_json_line();
        assert!(line.contains("\"client\":\"rmcp\""));
        assert_eq!(
            serde_json::from_str::<Record>(&line).expect("parses"),
            Record::Calls(result)
        );
    }

    #[test]
    fn machine_load_lines_round_trip_with_missing_figures() {
        let record = Record::MachineLoad(MachineLoadResult {
            label: "before".to_owned(),
            elapsed_s: 2.0,
            busy_pct: Some(1.5),
            steal_pct: None,
            pressure_pct: None,
        });
        let line = record.to_json_line();
        assert!(line.starts_with("{\"kind\":\"machine_load\""), "{line}");
        assert!(line.contains("\"steal_pct\":null"), "{line}");
        assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), record);
    }

    #[test]
    fn unknown_kinds_are_refused() {
        assert!(serde_json::from_str::<Record>("{\"kind\":\"nope\"}").is_err());
    }
}
