//! The table `make bench` prints: direct and gateway side by side at each concurrency, the
//! ratio gateway/direct, the gateway's CPU per call and memory, session opening, and each
//! target figure next to its bound with ✓ or ✗, what authentication adds ([`auth`]), and
//! what the Anthropic proxy adds to a streamed message ([`llm`]).
//! Pure: records in, text out. Figures are information, never a failure: a missed target
//! changes a mark, not an exit code.

mod auth;
mod llm;

use std::{collections::BTreeMap, fmt::Write as _};

use crate::results::{
    CallsResult, ClientKind, Connections, FanoutResult, MachineLoadResult, Record, SessionsResult,
};

/// Labels the benchmark script gives its runs.
pub const DIRECT: &str = "direct";
pub const GATEWAY: &str = "gateway";
/// Calls through `mcp-bench relay` (the floor of any proxy), watched as [`RELAY_PROCESS`].
pub const RELAY: &str = "relay";
pub const GATEWAY_IDLE_RSS: &str = "gateway_idle";
/// The watched-process names the script uses.
const GATEWAY_PROCESS: &str = "gateway";
const BACKEND_PROCESS: &str = "backend";
const RELAY_PROCESS: &str = "relay";

/// Parses a results file: one JSON record per line; blank lines are skipped. Returns the
/// records and how many lines were not records.
pub fn parse_records(text: &str) -> (Vec<Record>, usize) {
    let mut records = Vec::new();
    let mut unreadable = 0;
    for line in text.lines().map(str::trim).filter(|line| !line.is_empty()) {
        match serde_json::from_str::<Record>(line) {
            Ok(record) => records.push(record),
            Err(_) => unreadable += 1,
        }
    }
    (records, unreadable)
}

/// Which side of a bound a figure must stay on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    AtMost(f64),
    AtLeast(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Met,
    Missed,
    /// The figure was not measured.
    Unknown,
}

impl Verdict {
    pub fn mark(self) -> &'static str {
        match self {
            Verdict::Met => "✓",
            Verdict::Missed => "✗",
            Verdict::Unknown => "?",
        }
    }
}

/// One target of the issue and the figure measured for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub name: String,
    pub measured: Option<f64>,
    pub bound: Bound,
    pub unit: &'static str,
    pub decimals: usize,
}

impl Target {
    pub fn verdict(&self) -> Verdict {
        match (self.measured, self.bound) {
            (Some(value), _) if !value.is_finite() => Verdict::Unknown,
            (Some(value), Bound::AtMost(limit)) if value <= limit => Verdict::Met,
            (Some(value), Bound::AtLeast(limit)) if value >= limit => Verdict::Met,
            (Some(_), _) => Verdict::Missed,
            (None, _) => Verdict::Unknown,
        }
    }
}

/// The runs of one results file, sorted by what they measured.
#[derive(Debug, Default)]
pub struct Figures {
    pub direct: BTreeMap<usize, CallsResult>,
    pub gateway: BTreeMap<usize, CallsResult>,
    pub relay: BTreeMap<usize, CallsResult>,
    pub sessions: Option<SessionsResult>,
    pub idle_rss_kib: Option<u64>,
    pub fanouts: Vec<FanoutResult>,
    /// How busy the machine was while the benchmark was idle (`before`, `after` the runs), in
    /// the order first taken.
    pub machine: Vec<MachineLoadResult>,
    /// The alternating rounds of the auth-off and the auth-on gateway.
    pub auth: auth::AuthRuns,
    /// Streamed messages through the Anthropic proxy and directly.
    pub llm: llm::LlmRuns,
}

impl Figures {
    /// Later records replace earlier ones of the same kind, label and concurrency.
    pub fn from_records(records: Vec<Record>) -> Self {
        let mut figures = Self::default();
        for record in records {
            match record {
                Record::Calls(calls) if calls.label == DIRECT => {
                    figures.direct.insert(calls.concurrency, calls);
                }
                Record::Calls(calls) if calls.label == GATEWAY => {
                    figures.gateway.insert(calls.concurrency, calls);
                }
                Record::Calls(calls) if calls.label == RELAY => {
                    figures.relay.insert(calls.concurrency, calls);
                }
                Record::Calls(calls) => {
                    // Runs of other labels (measured by hand) are not part of the table.
                    let _ = figures.auth.take(calls);
                }
                Record::Sessions(sessions) => figures.sessions = Some(sessions),
                Record::Rss(rss) if rss.label == GATEWAY_IDLE_RSS => {
                    figures.idle_rss_kib = Some(rss.rss_kib);
                }
                Record::Rss(_) => {}
                Record::Fanout(fanout) => figures.fanouts.push(fanout),
                Record::Llm(run) => figures.llm.take(run),
                Record::MachineLoad(load) => {
                    match figures.machine.iter_mut().find(|m| m.label == load.label) {
                        Some(earlier) => *earlier = load,
                        None => figures.machine.push(load),
                    }
                }
            }
        }
        figures
    }

    /// Whether anything of the MCP benchmark (not the proxy's) was measured.
    fn has_mcp_runs(&self) -> bool {
        !self.direct.is_empty()
            || !self.gateway.is_empty()
            || !self.relay.is_empty()
            || self.sessions.is_some()
            || self.idle_rss_kib.is_some()
            || !self.fanouts.is_empty()
            || !self.auth.comparisons().is_empty()
    }

    /// Every concurrency measured on either path, ascending.
    fn concurrencies(&self) -> Vec<usize> {
        let mut all: Vec<usize> = self
            .direct
            .keys()
            .chain(self.gateway.keys())
            .copied()
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// The targets: at the lowest concurrency (1) and the highest (16) measured.
    pub fn targets(&self) -> Vec<Target> {
        let concurrencies = self.concurrencies();
        let low = concurrencies.first().copied().unwrap_or(1);
        let high = concurrencies.last().copied().unwrap_or(16);
        let p50 = |runs: &BTreeMap<usize, CallsResult>, c: usize| {
            runs.get(&c)
                .and_then(|run| run.latency.as_ref())
                .map(|l| l.p50_us)
        };
        let added_p50 = match (p50(&self.gateway, low), p50(&self.direct, low)) {
            (Some(gateway), Some(direct)) => Some(gateway - direct),
            _ => None,
        };
        let gateway_cpu = |c: usize| {
            self.gateway
                .get(&c)
                .and_then(|run| run.process(GATEWAY_PROCESS))
                .map(|usage| usage.cpu_ms_per_call)
        };
        let throughput_share = match (self.gateway.get(&high), self.direct.get(&high)) {
            (Some(gateway), Some(direct)) => {
                ratio(gateway.throughput_per_s, direct.throughput_per_s).map(|share| share * 100.0)
            }
            _ => None,
        };
        let auth_added = self.auth.added_p50_lowest();
        let session_p50_ms = self
            .sessions
            .as_ref()
            .and_then(|sessions| sessions.open.as_ref())
            .map(|open| open.p50_us / 1000.0);
        vec![
            Target {
                name: format!("added p50 latency, concurrency {low}"),
                measured: added_p50,
                bound: Bound::AtMost(100.0),
                unit: "µs",
                decimals: 0,
            },
            Target {
                name: format!("gateway CPU per call, concurrency {low}"),
                measured: gateway_cpu(low),
                bound: Bound::AtMost(0.1),
                unit: "ms",
                decimals: 3,
            },
            Target {
                name: format!("gateway CPU per call, concurrency {high}"),
                measured: gateway_cpu(high),
                bound: Bound::AtMost(0.05),
                unit: "ms",
                decimals: 3,
            },
            Target {
                name: format!("throughput, % of direct, concurrency {high}"),
                measured: throughput_share,
                bound: Bound::AtLeast(40.0),
                unit: "%",
                decimals: 0,
            },
            Target {
                name: "gateway RSS, idle".to_owned(),
                measured: self.idle_rss_kib.map(mib),
                bound: Bound::AtMost(20.0),
                unit: "MiB",
                decimals: 1,
            },
            Target {
                name: "session open p50 (initialize → tools/list, stdio backend configured)"
                    .to_owned(),
                measured: session_p50_ms,
                bound: Bound::AtMost(5.0),
                unit: "ms",
                decimals: 2,
            },
            Target {
                name: format!(
                    "auth on: added p50 vs auth-off gateway, concurrency {}",
                    auth_added.map_or(1, |(concurrency, _)| concurrency)
                ),
                measured: auth_added.map(|(_, added)| added),
                bound: Bound::AtMost(20.0),
                unit: "µs",
                decimals: 0,
            },
        ]
    }
}

/// `numerator / denominator`, when that means something.
pub fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator > 0.0 && numerator.is_finite()).then(|| numerator / denominator)
}

/// The heading of a section comparing two sides in rounds (auth off/on, direct/gateway):
/// the title with the columns' names, then how the rounds ran — `units` (`calls`,
/// `requests`) interleaved one by one between the `sides`, or one side after the other.
fn comparison_heading(
    out: &mut String,
    title: &str,
    columns: &[&str],
    (interleaved, rounds): (bool, usize),
    (units, sides): (&str, &str),
) -> std::fmt::Result {
    use std::fmt::Write as _;
    write!(
        out,
        "\n{title}{:>w$}",
        "",
        w = 36usize.saturating_sub(title.chars().count())
    )?;
    for column in columns {
        write!(out, "{column:>12}")?;
    }
    let how = if interleaved {
        format!("{units} interleaved one by one between the {sides}")
    } else if rounds > 1 {
        format!(
            "one {} after the other, alternating which goes first",
            singular(sides)
        )
    } else {
        format!("one {} after the other", singular(sides))
    };
    write!(out, "\n  {rounds} round(s), {how}")
}

/// `gateways` → `gateway`, `paths` → `path`.
fn singular(plural: &str) -> &str {
    plural.strip_suffix('s').unwrap_or(plural)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn number(value: Option<f64>, decimals: usize) -> String {
    match value {
        Some(value) if value.is_finite() => format!("{value:.decimals$}"),
        _ => "n/a".to_owned(),
    }
}

/// The whole report. `unreadable` lines of the results file are mentioned, not fatal.
pub fn render(figures: &Figures, unreadable: usize) -> String {
    let mut out = String::new();
    let client = figures
        .direct
        .values()
        .chain(figures.gateway.values())
        .map(|run| (run.client, run.connections))
        .chain(figures.sessions.iter().map(|s| (s.client, s.connections)))
        .chain(figures.fanouts.iter().map(|f| (f.client, f.connections)))
        .next()
        .map_or_else(
            || "no".to_owned(),
            |(client, connections)| {
                let client = match client {
                    ClientKind::Rmcp => "rmcp",
                    ClientKind::Raw => "raw JSON-RPC",
                };
                let connections = match connections {
                    Connections::KeepAlive => "keep-alive connections",
                    Connections::Fresh => "a new connection per request",
                };
                format!("{client} client, {connections}")
            },
        );
    if figures.has_mcp_runs() || figures.llm.is_empty() {
        let _ = writeln!(
            out,
            "MCP gateway benchmark: tools/call over streamable HTTP on 127.0.0.1, {client}"
        );
        let _ = writeln!(
            out,
            "(load generator, gateway and backend share this machine's cores; compare runs on one machine)"
        );
    } else {
        let _ = writeln!(
            out,
            "Anthropic proxy benchmark: streamed POST /v1/messages on 127.0.0.1, reqwest client, keep-alive connections"
        );
        let _ = writeln!(
            out,
            "(load generator, gateway and upstream share this machine's cores; compare runs on one machine)"
        );
    }
    render_machine_load(&mut out, &figures.machine);
    for concurrency in figures.concurrencies() {
        render_concurrency(&mut out, figures, concurrency);
    }
    auth::render(&mut out, &figures.auth);
    if let Some(sessions) = &figures.sessions {
        let open = sessions.open.as_ref();
        let _ = writeln!(
            out,
            "\nsession open, {} sessions through the gateway ({} tools listed, {} errors): \
             p50 {} ms, p99 {} ms, max {} ms",
            sessions.sessions,
            sessions.tools_listed,
            sessions.errors,
            number(open.map(|o| o.p50_us / 1000.0), 2),
            number(open.map(|o| o.p99_us / 1000.0), 2),
            number(open.map(|o| o.max_us / 1000.0), 2),
        );
    }
    for fanout in &figures.fanouts {
        let wall = fanout.wall.as_ref();
        let _ = writeln!(
            out,
            "fanout {} ({}): {} calls, {} errors, wall p50 {} ms, max {} ms, {} result bytes",
            fanout.label,
            fanout.tool,
            fanout.calls,
            fanout.errors,
            number(wall.map(|w| w.p50_us / 1000.0), 1),
            number(wall.map(|w| w.max_us / 1000.0), 1),
            fanout.result_bytes,
        );
    }
    llm::render(&mut out, &figures.llm);
    // A file of proxy runs alone holds none of the MCP targets.
    let mut targets = if figures.has_mcp_runs() {
        figures.targets()
    } else {
        Vec::new()
    };
    targets.extend(figures.llm.targets());
    // A file of fan-out runs alone has nothing to hold against the targets.
    if targets
        .iter()
        .any(|target| target.verdict() != Verdict::Unknown)
    {
        render_targets(&mut out, &targets);
    }
    render_problems(&mut out, figures, unreadable);
    out
}

/// How busy the machine was with other work, measured while the benchmark's processes were
/// idle: CPU figures move with it (a thread waiting for a core is not charged for the wait,
/// but the caches and wake-ups it meets are).
fn render_machine_load(out: &mut String, machine: &[MachineLoadResult]) {
    if machine.is_empty() {
        return;
    }
    let percent =
        |value: Option<f64>| value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.1} %"));
    let readings: Vec<String> = machine
        .iter()
        .map(|m| {
            format!(
                "{}: CPUs busy {}, stolen {}, pressure {}",
                m.label,
                percent(m.busy_pct),
                percent(m.steal_pct),
                percent(m.pressure_pct)
            )
        })
        .collect();
    let busy = machine
        .iter()
        .flat_map(|m| [m.busy_pct, m.steal_pct, m.pressure_pct])
        .flatten()
        // As printed, to one decimal: a share shown as 5.0 % does not name a busy machine.
        .any(|pct| (pct * 10.0).round() / 10.0 > BUSY_MACHINE_PCT);
    let _ = writeln!(
        out,
        "(machine with the benchmark idle: {}{})",
        readings.join("; "),
        if busy {
            "; other work shares these cores, so CPU and latency figures read high"
        } else {
            ""
        }
    );
}

/// An idle-time busy, stolen or pressure share above which the report says that other work
/// shares the cores.
const BUSY_MACHINE_PCT: f64 = 5.0;

fn render_concurrency(out: &mut String, figures: &Figures, concurrency: usize) {
    let direct = figures.direct.get(&concurrency);
    let gateway = figures.gateway.get(&concurrency);
    let latency = |run: Option<&CallsResult>, pick: fn(&crate::stats::LatencySummary) -> f64| {
        run.and_then(|run| run.latency.as_ref()).map(pick)
    };
    let usage =
        |run: Option<&CallsResult>, name: &str, pick: fn(&crate::results::ProcessUsage) -> f64| {
            run.and_then(|run| run.process(name)).map(pick)
        };
    let both = |d: Option<f64>, g: Option<f64>| match (g, d) {
        (Some(g), Some(d)) => ratio(g, d),
        _ => None,
    };
    let _ = writeln!(
        out,
        "\nconcurrency {concurrency}{:>w$}{:>12}{:>12}{:>12}",
        "",
        "direct",
        "gateway",
        "gw/direct",
        w = 36usize.saturating_sub(format!("concurrency {concurrency}").len())
    );
    let mut row =
        |name: &str, d: Option<f64>, g: Option<f64>, decimals: usize, show_ratio: bool| {
            let ratio_text = if show_ratio {
                number(both(d, g), 2)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "  {name:<34}{:>12}{:>12}{:>12}",
                number(d, decimals),
                number(g, decimals),
                ratio_text
            );
        };
    let calls = |run: Option<&CallsResult>| run.map(|run| run.calls as f64);
    let errors = |run: Option<&CallsResult>| run.map(|run| run.errors as f64);
    row("calls", calls(direct), calls(gateway), 0, false);
    row("errors", errors(direct), errors(gateway), 0, false);
    let tput = |run: Option<&CallsResult>| run.map(|run| run.throughput_per_s);
    row("throughput, calls/s", tput(direct), tput(gateway), 0, true);
    row(
        "p50 latency, µs",
        latency(direct, |l| l.p50_us),
        latency(gateway, |l| l.p50_us),
        0,
        true,
    );
    row(
        "p99 latency, µs",
        latency(direct, |l| l.p99_us),
        latency(gateway, |l| l.p99_us),
        0,
        true,
    );
    row(
        "max latency, µs",
        latency(direct, |l| l.max_us),
        latency(gateway, |l| l.max_us),
        0,
        false,
    );
    let added = latency(gateway, |l| l.p50_us)
        .zip(latency(direct, |l| l.p50_us))
        .map(|(g, d)| g - d);
    row("added p50, µs", None, added, 0, false);
    row(
        "gateway CPU per call, ms",
        None,
        usage(gateway, GATEWAY_PROCESS, |u| u.cpu_ms_per_call),
        3,
        false,
    );
    row(
        "backend CPU per call, ms",
        usage(direct, BACKEND_PROCESS, |u| u.cpu_ms_per_call),
        usage(gateway, BACKEND_PROCESS, |u| u.cpu_ms_per_call),
        3,
        true,
    );
    let client_cpu = |run: Option<&CallsResult>| run.and_then(|run| run.client_cpu_ms_per_call);
    row(
        "load generator CPU per call, ms",
        client_cpu(direct),
        client_cpu(gateway),
        3,
        false,
    );
    row(
        "gateway RSS under load (peak), MiB",
        None,
        usage(gateway, GATEWAY_PROCESS, |u| mib(u.rss_peak_kib)),
        1,
        false,
    );
    if let Some(line) = gateway
        .and_then(|run| run.process(GATEWAY_PROCESS))
        .and_then(|usage| thread_breakdown(&usage.threads_cpu_ms_per_call))
    {
        let _ = writeln!(out, "  {line}");
    }
    if let Some(line) = relay_line(direct, gateway, figures.relay.get(&concurrency)) {
        let _ = writeln!(out, "  {line}");
    }
}

/// What the TCP relay (the floor of any proxy on this machine) added and spent, and the
/// gateway beyond it: `None` without a relay run.
fn relay_line(
    direct: Option<&CallsResult>,
    gateway: Option<&CallsResult>,
    relay: Option<&CallsResult>,
) -> Option<String> {
    let relay = relay?;
    let p50 = |run: Option<&CallsResult>| run?.latency.as_ref().map(|l| l.p50_us);
    let cpu = |run: Option<&CallsResult>, name: &str| Some(run?.process(name)?.cpu_ms_per_call);
    let relay_added = p50(Some(relay)).zip(p50(direct)).map(|(r, d)| r - d);
    let relay_cpu = cpu(Some(relay), RELAY_PROCESS);
    let beyond_added = p50(gateway).zip(p50(Some(relay))).map(|(g, r)| g - r);
    let beyond_cpu = cpu(gateway, GATEWAY_PROCESS)
        .zip(relay_cpu)
        .map(|(g, r)| g - r);
    Some(format!(
        "TCP relay (the floor of any proxy here): added p50 {} µs, CPU {} ms per call; \
         the gateway beyond it: {} µs, {} ms",
        number(relay_added, 0),
        number(relay_cpu, 3),
        number(beyond_added, 0),
        number(beyond_cpu, 3),
    ))
}

/// `gateway CPU per call by thread, ms: gateway-http 0.052, …`, costliest first, groups that
/// spent nothing left out; `None` when nothing was measured.
fn thread_breakdown(groups: &std::collections::BTreeMap<String, f64>) -> Option<String> {
    let mut spent: Vec<(&String, f64)> = groups
        .iter()
        .map(|(group, ms)| (group, *ms))
        .filter(|(_, ms)| *ms > 0.0)
        .collect();
    if spent.is_empty() {
        return None;
    }
    spent.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let parts: Vec<String> = spent
        .iter()
        .map(|(group, ms)| format!("{group} {ms:.3}"))
        .collect();
    Some(format!(
        "gateway CPU per call by thread, ms: {}",
        parts.join(", ")
    ))
}

fn render_targets(out: &mut String, targets: &[Target]) {
    let _ = writeln!(out, "\ntargets");
    for target in targets {
        let bound = match target.bound {
            Bound::AtMost(limit) => format!("≤ {limit} {}", target.unit),
            Bound::AtLeast(limit) => format!("≥ {limit} {}", target.unit),
        };
        let measured = match target.measured {
            Some(_) => format!(
                "{} {}",
                number(target.measured, target.decimals),
                target.unit
            ),
            None => "not measured".to_owned(),
        };
        let _ = writeln!(
            out,
            "  {} {:<68}{:>14}   target {bound}",
            target.verdict().mark(),
            target.name,
            measured
        );
    }
}

/// Linux delays an ACK up to 40 ms; a p50 pinned just above that on a loopback echo is the
/// signature of Nagle's algorithm meeting delayed ACK, not of real work.
pub fn looks_like_delayed_ack_stall(run: &CallsResult) -> bool {
    run.latency
        .as_ref()
        .is_some_and(|latency| (39_000.0..=50_000.0).contains(&latency.p50_us))
}

fn render_problems(out: &mut String, figures: &Figures, unreadable: usize) {
    let mut notes = Vec::new();
    for run in figures.direct.values().chain(figures.gateway.values()) {
        if run.capped {
            notes.push(format!(
                "{} at concurrency {}: stopped at its time cap after {} calls",
                run.label, run.concurrency, run.calls
            ));
        }
        if looks_like_delayed_ack_stall(run) {
            notes.push(format!(
                "{} at concurrency {}: p50 near 40 ms looks like a delayed-ACK stall: a server \
                 answering a keep-alive connection in several writes without TCP_NODELAY waits \
                 for the peer's delayed ACK (set TCP_NODELAY on accepted sockets)",
                run.label, run.concurrency
            ));
        }
        if let Some(error) = &run.first_error {
            notes.push(format!(
                "{} at concurrency {}: {} errors, first: {error}",
                run.label, run.concurrency, run.errors
            ));
        }
    }
    if let Some(error) = figures
        .sessions
        .as_ref()
        .and_then(|s| s.first_error.as_ref())
    {
        notes.push(format!("session open: first error: {error}"));
    }
    for fanout in &figures.fanouts {
        if let Some(error) = &fanout.first_error {
            notes.push(format!("fanout {}: first error: {error}", fanout.label));
        }
    }
    notes.extend(auth::problems(&figures.auth));
    notes.extend(llm::problems(&figures.llm));
    if unreadable > 0 {
        notes.push(format!(
            "{unreadable} line(s) of the results file were not results"
        ));
    }
    if !notes.is_empty() {
        let _ = writeln!(out, "\nnotes");
        for note in notes {
            let _ = writeln!(out, "  {note}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        results::{ProcessUsage, RssResult},
        stats::LatencySummary,
    };

    fn latency(p50_us: f64) -> LatencySummary {
        LatencySummary {
            samples: 100,
            min_us: p50_us / 2.0,
            p50_us,
            p90_us: p50_us * 1.5,
            p99_us: p50_us * 2.0,
            p999_us: p50_us * 3.0,
            max_us: p50_us * 4.0,
            mean_us: p50_us,
        }
    }

    fn usage(name: &str, cpu_ms_per_call: f64, rss_peak_kib: u64) -> ProcessUsage {
        ProcessUsage {
            name: name.to_owned(),
            pid: 1,
            cpu_s: 0.0,
            cpu_ms_per_call,
            rss_peak_kib,
            rss_end_kib: rss_peak_kib,
            threads_cpu_ms_per_call: Default::default(),
        }
    }

    #[test]
    fn the_thread_breakdown_puts_the_costliest_first() {
        let groups = std::collections::BTreeMap::from([
            ("tokio-rt-worker".to_owned(), 0.004),
            ("gateway-http".to_owned(), 0.0521),
            ("sqlx-sqlite-wor".to_owned(), 0.0066),
            ("mcp-gateway".to_owned(), 0.0),
        ]);
        assert_eq!(
            thread_breakdown(&groups).as_deref(),
            Some(
                "gateway CPU per call by thread, ms: gateway-http 0.052, sqlx-sqlite-wor 0.007, tokio-rt-worker 0.004"
            )
        );
        assert_eq!(thread_breakdown(&Default::default()), None);
    }

    fn calls(
        label: &str,
        concurrency: usize,
        throughput: f64,
        p50_us: f64,
        gateway_cpu: Option<f64>,
    ) -> Record {
        let mut processes = vec![usage("backend", 0.05, 8000)];
        if let Some(cpu) = gateway_cpu {
            processes.push(usage("gateway", cpu, 15 * 1024));
        }
        Record::Calls(CallsResult {
            label: label.to_owned(),
            tool: "echo".to_owned(),
            client: ClientKind::Rmcp,
            connections: Connections::KeepAlive,
            concurrency,
            calls: 1000,
            capped: false,
            ok: 1000,
            errors: 0,
            elapsed_s: 1.0,
            throughput_per_s: throughput,
            latency: Some(latency(p50_us)),
            processes,
            client_cpu_ms_per_call: Some(0.02),
            first_error: None,
            interleaved_with: None,
        })
    }

    fn full_run() -> Vec<Record> {
        vec![
            calls(DIRECT, 1, 6000.0, 160.0, None),
            calls(GATEWAY, 1, 4500.0, 230.0, Some(0.08)),
            calls(DIRECT, 16, 26000.0, 600.0, None),
            calls(GATEWAY, 16, 9000.0, 1700.0, Some(0.07)),
            Record::Rss(RssResult {
                label: GATEWAY_IDLE_RSS.to_owned(),
                pid: 1,
                rss_kib: 12 * 1024,
            }),
            Record::Sessions(SessionsResult {
                label: GATEWAY.to_owned(),
                client: ClientKind::Rmcp,
                connections: Connections::KeepAlive,
                sessions: 50,
                errors: 0,
                tools_listed: 7,
                open: Some(latency(2100.0)),
                first_error: None,
            }),
        ]
    }

    fn verdicts(figures: &Figures) -> Vec<(Option<f64>, Verdict)> {
        figures
            .targets()
            .iter()
            .map(|target| {
                (
                    target.measured.map(|m| (m * 1000.0).round() / 1000.0),
                    target.verdict(),
                )
            })
            .collect()
    }

    #[test]
    fn targets_are_computed_from_the_runs() {
        let figures = Figures::from_records(full_run());
        assert_eq!(
            verdicts(&figures),
            [
                (Some(70.0), Verdict::Met),
                (Some(0.08), Verdict::Met),
                (Some(0.07), Verdict::Missed),
                (Some(34.615), Verdict::Missed),
                (Some(12.0), Verdict::Met),
                (Some(2.1), Verdict::Met),
                (None, Verdict::Unknown),
            ]
        );
        let names: Vec<String> = figures.targets().into_iter().map(|t| t.name).collect();
        assert!(names[0].ends_with("concurrency 1"));
        assert!(names[2].ends_with("concurrency 16"));
    }

    #[test]
    fn machine_load_is_shown_in_order_and_a_busy_machine_is_named() {
        let load = |label: &str, busy: Option<f64>, steal: Option<f64>| {
            Record::MachineLoad(MachineLoadResult {
                label: label.to_owned(),
                elapsed_s: 2.0,
                busy_pct: busy,
                steal_pct: steal,
                pressure_pct: Some(0.25),
            })
        };
        let mut records = full_run();
        records.push(load("before", Some(1.24), Some(0.0)));
        records.push(load("after", Some(0.4), None));
        let text = render(&Figures::from_records(records.clone()), 0);
        assert!(
            text.contains(
                "(machine with the benchmark idle: before: CPUs busy 1.2 %, stolen 0.0 %, \
                 pressure 0.2 %; after: CPUs busy 0.4 %, stolen n/a, pressure 0.2 %)"
            ),
            "{text}"
        );
        // A later reading of a label replaces the earlier one in its place; any share above
        // 5 % names the busy machine.
        records.push(load("before", Some(1.0), Some(5.1)));
        let text = render(&Figures::from_records(records), 0);
        assert!(
            text.contains("before: CPUs busy 1.0 %, stolen 5.1 %"),
            "{text}"
        );
        assert!(text.contains("; after: CPUs busy 0.4 %"), "{text}");
        assert!(text.contains("other work shares these cores"), "{text}");
        assert!(!render(&Figures::from_records(full_run()), 0).contains("machine with"));
    }

    #[test]
    fn auth_rounds_give_their_own_target_and_section() {
        let mut records = full_run();
        for (label, p50) in [
            (auth::AUTH_OFF, 230.0),
            (auth::AUTH_ON, 262.0),
            (auth::AUTH_OFF, 228.0),
            (auth::AUTH_ON, 236.0),
        ] {
            records.push(calls(label, 1, 4000.0, p50, Some(0.08)));
        }
        let figures = Figures::from_records(records);
        // Auth rounds stay out of the auth-off gateway's own figures.
        assert_eq!(figures.targets()[0].measured, Some(70.0));
        let target = figures.targets().pop().expect("auth target");
        assert_eq!(
            target.name,
            "auth on: added p50 vs auth-off gateway, concurrency 1"
        );
        // Rounds differ by +32 and +8 µs: the median of two is their mean.
        assert_eq!(target.measured, Some(20.0));
        assert_eq!(target.verdict(), Verdict::Met);
        let text = render(&figures, 0);
        assert!(text.contains("2 round(s), one gateway after"), "{text}");
        assert!(text.contains("✓ auth on: added p50"), "{text}");
    }

    #[test]
    fn missing_runs_leave_targets_unknown() {
        let figures = Figures::from_records(vec![calls(DIRECT, 1, 6000.0, 160.0, None)]);
        let all = verdicts(&figures);
        assert!(
            all.iter()
                .all(|(measured, verdict)| measured.is_none() && *verdict == Verdict::Unknown)
        );
        let text = render(&figures, 0);
        assert!(!text.contains("targets"), "{text}");
        assert!(text.contains("n/a"));
        let mut records = vec![calls(DIRECT, 1, 6000.0, 160.0, None)];
        records.push(Record::Rss(RssResult {
            label: GATEWAY_IDLE_RSS.to_owned(),
            pid: 1,
            rss_kib: 1024,
        }));
        let text = render(&Figures::from_records(records), 0);
        assert!(text.contains("targets"), "{text}");
        assert!(text.contains("not measured"), "{text}");
    }

    #[test]
    fn fanout_runs_are_listed() {
        let records = vec![Record::Fanout(FanoutResult {
            label: "fanout_100".to_owned(),
            tool: "broadcast__echo".to_owned(),
            client: ClientKind::Raw,
            connections: Connections::KeepAlive,
            calls: 3,
            errors: 0,
            result_bytes: 4096,
            wall: Some(latency(25_000.0)),
            first_error: None,
        })];
        let text = render(&Figures::from_records(records), 0);
        assert!(
            text.contains(
                "fanout fanout_100 (broadcast__echo): 3 calls, 0 errors, wall p50 25.0 ms"
            ),
            "{text}"
        );
        assert!(text.contains("raw JSON-RPC client"), "{text}");
    }

    #[test]
    fn bounds_include_their_limit() {
        let target = |measured, bound| Target {
            name: String::new(),
            measured: Some(measured),
            bound,
            unit: "",
            decimals: 0,
        };
        assert_eq!(target(100.0, Bound::AtMost(100.0)).verdict(), Verdict::Met);
        assert_eq!(
            target(100.1, Bound::AtMost(100.0)).verdict(),
            Verdict::Missed
        );
        assert_eq!(target(40.0, Bound::AtLeast(40.0)).verdict(), Verdict::Met);
        assert_eq!(
            target(39.9, Bound::AtLeast(40.0)).verdict(),
            Verdict::Missed
        );
        assert_eq!(
            target(f64::NAN, Bound::AtLeast(40.0)).verdict(),
            Verdict::Unknown
        );
    }

    #[test]
    fn later_records_replace_earlier_ones() {
        let mut records = full_run();
        records.push(calls(GATEWAY, 1, 5000.0, 200.0, Some(0.05)));
        let figures = Figures::from_records(records);
        assert_eq!(figures.targets()[0].measured, Some(40.0));
    }

    #[test]
    fn other_labels_are_ignored() {
        let figures = Figures::from_records(vec![calls("warmup", 1, 1.0, 1.0, None)]);
        assert!(figures.direct.is_empty() && figures.gateway.is_empty());
    }

    #[test]
    fn the_relay_run_shows_the_floor_and_the_gateway_beyond_it() {
        let mut records = full_run();
        let mut relay = calls(RELAY, 1, 5500.0, 175.0, None);
        if let Record::Calls(run) = &mut relay {
            run.processes = vec![usage("relay", 0.05, 4000)];
        }
        records.push(relay);
        let text = render(&Figures::from_records(records), 0);
        // Direct p50 160, relay 175, gateway 230; relay CPU 0.05, gateway 0.08.
        assert!(
            text.contains(
                "TCP relay (the floor of any proxy here): added p50 15 µs, CPU 0.050 ms per call; \
                 the gateway beyond it: 55 µs, 0.030 ms"
            ),
            "{text}"
        );
        // Only where a relay run exists.
        assert_eq!(text.matches("TCP relay").count(), 1, "{text}");
        assert!(!render(&Figures::from_records(full_run()), 0).contains("TCP relay"));
    }

    #[test]
    fn report_shows_figures_marks_and_ratios() {
        let text = render(&Figures::from_records(full_run()), 0);
        assert!(text.contains("concurrency 1 "), "{text}");
        assert!(text.contains("concurrency 16"), "{text}");
        // Throughput ratio at concurrency 1: 4500 / 6000.
        assert!(text.contains("0.75"), "{text}");
        assert_eq!(text.matches('✓').count(), 4, "{text}");
        assert_eq!(text.matches('✗').count(), 2, "{text}");
        assert!(text.contains("p50 2.10 ms"), "{text}");
        assert!(!text.contains("notes"), "{text}");
        assert!(
            text.contains("rmcp client, keep-alive connections"),
            "{text}"
        );
    }

    #[test]
    fn report_notes_errors_and_unreadable_lines() {
        let mut records = full_run();
        if let Some(Record::Calls(run)) = records.get_mut(1) {
            run.errors = 3;
            run.first_error = Some("tools/call failed: boom".to_owned());
        }
        let text = render(&Figures::from_records(records), 2);
        assert!(
            text.contains("gateway at concurrency 1: 3 errors, first: tools/call failed: boom"),
            "{text}"
        );
        assert!(text.contains("2 line(s)"), "{text}");
    }

    #[test]
    fn report_notes_capped_runs_and_stalls() {
        let mut records = full_run();
        if let Some(Record::Calls(run)) = records.get_mut(0) {
            run.capped = true;
            run.latency = Some(latency(44_000.0));
        }
        let text = render(&Figures::from_records(records), 0);
        assert!(
            text.contains("direct at concurrency 1: stopped at its time cap after 1000 calls"),
            "{text}"
        );
        assert!(
            text.contains("direct at concurrency 1: p50 near 40 ms"),
            "{text}"
        );
        assert!(
            !text.contains("gateway at concurrency 1: p50 near"),
            "{text}"
        );
    }

    #[test]
    fn results_file_lines_parse() {
        let mut text = String::new();
        for record in full_run() {
            text.push_str(&record.to_json_line());
            text.push('\n');
        }
        text.push_str("\nnot json\n{\"kind\":\"calls\"}\n");
        let (records, unreadable) = parse_records(&text);
        assert_eq!(records.len(), 6);
        assert_eq!(unreadable, 2);
    }

    #[test]
    fn a_file_of_proxy_runs_has_its_own_header_and_target() {
        let run = |label: &str, ttfb_us: f64| {
            Record::Llm(crate::results::LlmResult {
                label: label.to_owned(),
                url: "http://127.0.0.1:1/v1/messages".to_owned(),
                concurrency: 1,
                requests: 100,
                warmup_requests: 0,
                capped: false,
                ok: 100,
                errors: 0,
                elapsed_s: 0.1,
                throughput_per_s: 1000.0,
                ttfb: Some(latency(ttfb_us)),
                total: Some(latency(ttfb_us * 2.0)),
                events_per_stream: Some(26.0),
                bytes_per_stream: Some(3000.0),
                reads_per_stream: Some(26.0),
                processes: Vec::new(),
                client_cpu_ms_per_request: None,
                first_error: None,
                interleaved_with: None,
            })
        };
        let mut text = String::new();
        for record in [run(DIRECT, 200.0), run(GATEWAY, 1400.0)] {
            text.push_str(&record.to_json_line());
            text.push('\n');
        }
        let (records, unreadable) = parse_records(&text);
        let report = render(&Figures::from_records(records), unreadable);
        assert!(
            report.starts_with("Anthropic proxy benchmark: streamed POST /v1/messages"),
            "{report}"
        );
        assert!(
            report.contains("Anthropic proxy, concurrency 1"),
            "{report}"
        );
        // 1.2 ms added: over the bound; and no MCP target is listed as unmeasured.
        assert!(
            report.contains("✗ Anthropic proxy: added TTFB p50, concurrency 1"),
            "{report}"
        );
        assert!(report.contains("1.200 ms   target ≤ 1 ms"), "{report}");
        assert!(!report.contains("not measured"), "{report}");
        // Proxy runs beside the MCP runs keep the MCP header and add their target.
        let mut records = full_run();
        records.push(run(DIRECT, 200.0));
        records.push(run(GATEWAY, 300.0));
        let report = render(&Figures::from_records(records), 0);
        assert!(report.starts_with("MCP gateway benchmark"), "{report}");
        assert!(
            report.contains("✓ Anthropic proxy: added TTFB p50, concurrency 1"),
            "{report}"
        );
    }

    #[test]
    fn ratio_needs_a_positive_denominator() {
        assert_eq!(ratio(1.0, 2.0), Some(0.5));
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(ratio(f64::NAN, 1.0), None);
    }
}
