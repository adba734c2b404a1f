//! What the kernel says about a process: CPU time (`/proc/<pid>/stat` utime + stime, all
//! threads) and resident memory (`VmRSS` in `/proc/<pid>/status`); and about the machine: its
//! CPUs' busy and stolen time (`/proc/stat`) and CPU pressure (`/proc/pressure/cpu`). Parsing is pure and tested;
//! reading is a thin wrapper. Linux only, which is where the benchmark runs.

use std::{collections::BTreeMap, fmt, process::Command, str::FromStr, time::Duration};

use anyhow::{Context, Result};

/// Which process to read: a pid, or the load generator itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcId {
    Pid(u32),
    SelfProcess,
}

impl ProcId {
    fn dir(self) -> String {
        match self {
            ProcId::Pid(pid) => format!("/proc/{pid}"),
            ProcId::SelfProcess => "/proc/self".to_owned(),
        }
    }
}

impl fmt::Display for ProcId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcId::Pid(pid) => write!(f, "{pid}"),
            ProcId::SelfProcess => f.write_str("self"),
        }
    }
}

/// A process to watch during a run, named for the report (`gateway=1234`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedProcess {
    pub name: String,
    pub pid: u32,
}

impl FromStr for WatchedProcess {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (name, pid) = text
            .split_once('=')
            .ok_or_else(|| format!("expected NAME=PID, got {text:?}"))?;
        let name = name.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!("process name must be [A-Za-z0-9_-]+, got {name:?}"));
        }
        let pid = pid
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|pid| *pid > 0)
            .ok_or_else(|| format!("pid must be a positive number, got {pid:?}"))?;
        Ok(Self {
            name: name.to_owned(),
            pid,
        })
    }
}

/// User + system CPU time of every thread of the process, in clock ticks, from the text of
/// `/proc/<pid>/stat`. The command name (field 2) may hold spaces and parentheses, so the
/// fields are counted from its last `)`.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // After the name: state (3), ppid … cmajflt (4–13), utime (14), stime (15).
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    utime.checked_add(stime)
}

/// Whether the process of this `/proc/<pid>/stat` text still runs: not a zombie (`Z`) waiting
/// to be reaped, nor dead (`X`).
pub fn parse_is_running(stat: &str) -> bool {
    stat.rfind(')')
        .and_then(|end| stat[end + 1..].split_whitespace().next())
        .is_some_and(|state| !matches!(state, "Z" | "X" | "x"))
}

/// Whether a process exists and has not exited.
pub fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| parse_is_running(&stat))
}

/// Resident set size in KiB from the text of `/proc/<pid>/status`.
pub fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let mut words = line["VmRSS:".len()..].split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => Some(value),
        Some(_) => None,
    }
}

/// CPU time of a process so far.
pub fn read_cpu_time(process: ProcId, ticks_per_second: u64) -> Result<Duration> {
    let path = format!("{}/stat", process.dir());
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let ticks = parse_cpu_ticks(&text).with_context(|| format!("no CPU times in {path}"))?;
    Ok(ticks_to_duration(ticks, ticks_per_second))
}

/// CPU clock ticks so far of each group of a process's threads, a group being the thread
/// name without a trailing number (`gateway-http-0` and `gateway-http-1` are `gateway-http`).
/// Threads that end in the meantime are missed; so are processes that cannot be read.
pub fn read_thread_group_ticks(pid: u32) -> BTreeMap<String, u64> {
    let mut groups = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return groups;
    };
    for task in tasks.flatten() {
        let dir = task.path();
        let (Ok(name), Ok(stat)) = (
            std::fs::read_to_string(dir.join("comm")),
            std::fs::read_to_string(dir.join("stat")),
        ) else {
            continue;
        };
        if let Some(ticks) = parse_cpu_ticks(&stat) {
            *groups.entry(thread_group(&name).to_owned()).or_insert(0) += ticks;
        }
    }
    groups
}

/// The group of a thread name: the name without a trailing `-N` or `N`.
pub fn thread_group(name: &str) -> &str {
    let name = name.trim();
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if stem.is_empty() {
        return name;
    }
    stem.strip_suffix('-').unwrap_or(stem)
}

/// Resident memory of a process now, in KiB.
pub fn read_rss_kib(process: ProcId) -> Result<u64> {
    let path = format!("{}/status", process.dir());
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_vm_rss_kib(&text).with_context(|| format!("no VmRSS in {path}"))
}

/// The machine's CPU time so far, in clock ticks summed over its CPUs, from the `cpu` line
/// of `/proc/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineCpu {
    /// user + nice + system + irq + softirq (guest time is part of user).
    pub busy: u64,
    /// idle + iowait.
    pub idle: u64,
    /// Time the hypervisor ran something else while this machine's CPUs wanted to run.
    pub steal: u64,
}

/// [`MachineCpu`] from the text of `/proc/stat`.
pub fn parse_machine_cpu(stat: &str) -> Option<MachineCpu> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]
    let [user, nice, system, idle, iowait, irq, softirq, steal, ..] = fields[..] else {
        return None;
    };
    Some(MachineCpu {
        busy: user + nice + system + irq + softirq,
        idle: idle + iowait,
        steal,
    })
}

/// Total time, in microseconds, during which some runnable task of this machine waited for
/// one of its CPUs, from the text of `/proc/pressure/cpu` (PSI: `total=` of the `some` line).
pub fn parse_cpu_pressure_total_us(text: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with("some "))?;
    line.split_whitespace()
        .find_map(|field| field.strip_prefix("total="))?
        .parse()
        .ok()
}

/// What the kernel says about the whole machine's CPUs at one moment; either part is `None`
/// when it cannot be read (PSI is missing before Linux 4.20, when built without it, and when
/// disabled at boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineReading {
    pub cpu: Option<MachineCpu>,
    pub pressure_us: Option<u64>,
}

pub fn read_machine() -> MachineReading {
    MachineReading {
        cpu: std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|text| parse_machine_cpu(&text)),
        pressure_us: std::fs::read_to_string("/proc/pressure/cpu")
            .ok()
            .and_then(|text| parse_cpu_pressure_total_us(&text)),
    }
}

/// How busy the machine was between two readings, in percent; `None` where a reading is
/// missing or nothing was counted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MachineLoad {
    /// Share of all CPUs' time spent running something (in this machine).
    pub busy_pct: Option<f64>,
    /// Share of all CPUs' time taken by the hypervisor for other guests.
    pub steal_pct: Option<f64>,
    /// Share of the wall time during which some task here waited for a CPU (PSI `some`).
    pub pressure_pct: Option<f64>,
}

/// The load between `before` and `after`, taken `elapsed` apart. Counters that went backwards
/// count as zero.
pub fn machine_load(
    before: &MachineReading,
    after: &MachineReading,
    elapsed: Duration,
) -> MachineLoad {
    let shares = before.cpu.zip(after.cpu).and_then(|(before, after)| {
        let busy = after.busy.saturating_sub(before.busy);
        let idle = after.idle.saturating_sub(before.idle);
        let steal = after.steal.saturating_sub(before.steal);
        let total = busy + idle + steal;
        (total > 0).then(|| {
            let pct = |ticks: u64| ticks as f64 / total as f64 * 100.0;
            (pct(busy), pct(steal))
        })
    });
    let wall_us = elapsed.as_secs_f64() * 1e6;
    let pressure_pct = before
        .pressure_us
        .zip(after.pressure_us)
        .filter(|_| wall_us > 0.0)
        .map(|(before, after)| after.saturating_sub(before) as f64 / wall_us * 100.0);
    MachineLoad {
        busy_pct: shares.map(|(busy, _)| busy),
        steal_pct: shares.map(|(_, steal)| steal),
        pressure_pct,
    }
}

/// Converts clock ticks to time; a zero tick rate is taken as the usual 100 Hz.
pub fn ticks_to_duration(ticks: u64, ticks_per_second: u64) -> Duration {
    let rate = if ticks_per_second == 0 {
        USUAL_TICKS_PER_SECOND
    } else {
        ticks_per_second
    };
    let whole = ticks / rate;
    let rest = ticks % rate;
    Duration::from_secs(whole) + Duration::from_nanos(rest * 1_000_000_000 / rate)
}

/// `USER_HZ` on every mainstream Linux build.
const USUAL_TICKS_PER_SECOND: u64 = 100;

/// The kernel's clock tick rate (`getconf CLK_TCK`); the usual 100 Hz when it cannot be asked
/// (the crate forbids the `unsafe` a direct `sysconf` call would need).
pub fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse::<u64>().ok())
        .filter(|rate| *rate > 0)
        .unwrap_or(USUAL_TICKS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (mcp-gateway) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                        150 25 0 0 20 0 4 0 123456 12345678 2048 18446744073709551615";

    #[test]
    fn machine_cpu_is_the_summary_line() {
        let stat = "cpu  100 5 50 1000 20 3 2 7 40 0\n\
                    cpu0 50 2 25 500 10 1 1 3 20 0\n\
                    intr 12345\n";
        assert_eq!(
            parse_machine_cpu(stat),
            Some(MachineCpu {
                busy: 160,
                idle: 1020,
                steal: 7
            })
        );
        // Kernels before 2.6.11 had no steal column; nothing to report then.
        assert_eq!(parse_machine_cpu("cpu  1 2 3 4 5 6 7\n"), None);
        assert_eq!(parse_machine_cpu("cpu  1 2 x 4 5 6 7 8\n"), None);
        assert_eq!(parse_machine_cpu("cpu0 1 2 3 4 5 6 7 8\n"), None);
    }

    #[test]
    fn cpu_pressure_total_is_the_some_line() {
        let text = "some avg10=1.11 avg60=2.63 avg300=0.93 total=3533616\n\
                    full avg10=0.00 avg60=0.00 avg300=0.00 total=99\n";
        assert_eq!(parse_cpu_pressure_total_us(text), Some(3_533_616));
        assert_eq!(parse_cpu_pressure_total_us("full total=5\n"), None);
        assert_eq!(parse_cpu_pressure_total_us("some avg10=1 total=x\n"), None);
        assert_eq!(parse_cpu_pressure_total_us(""), None);
    }

    #[test]
    fn machine_load_is_the_shares_of_the_interval() {
        let reading = |busy, idle, steal, pressure_us| MachineReading {
            cpu: Some(MachineCpu { busy, idle, steal }),
            pressure_us: Some(pressure_us),
        };
        let load = machine_load(
            &reading(1000, 5000, 10, 2_000_000),
            &reading(1050, 5140, 20, 2_300_000),
            Duration::from_secs(2),
        );
        assert_eq!(load.busy_pct, Some(25.0));
        assert_eq!(load.steal_pct, Some(5.0));
        assert_eq!(load.pressure_pct, Some(15.0));
        // Counters that went backwards (a wrapped or reset counter) count as nothing.
        let load = machine_load(
            &reading(1050, 5000, 20, 9),
            &reading(1000, 5100, 10, 5),
            Duration::from_secs(1),
        );
        assert_eq!(load.busy_pct, Some(0.0));
        assert_eq!(load.steal_pct, Some(0.0));
        assert_eq!(load.pressure_pct, Some(0.0));
        // Missing readings, no ticks counted, no time elapsed.
        let missing = MachineReading {
            cpu: None,
            pressure_us: None,
        };
        let load = machine_load(&missing, &reading(1, 1, 1, 1), Duration::from_secs(1));
        assert_eq!(
            (load.busy_pct, load.steal_pct, load.pressure_pct),
            (None, None, None)
        );
        let same = reading(5, 5, 5, 5);
        let load = machine_load(&same, &same, Duration::ZERO);
        assert_eq!((load.busy_pct, load.pressure_pct), (None, None));
    }

    #[test]
    fn thread_names_group_without_their_number() {
        assert_eq!(thread_group("gateway-http-0"), "gateway-http");
        assert_eq!(thread_group("gateway-http-12\n"), "gateway-http");
        assert_eq!(thread_group("tokio-rt-worker"), "tokio-rt-worker");
        assert_eq!(thread_group("sqlx-sqlite-wor"), "sqlx-sqlite-wor");
        assert_eq!(thread_group("worker7"), "worker");
        assert_eq!(thread_group("1234"), "1234");
    }

    #[test]
    fn this_process_has_its_threads_grouped() {
        let spin = std::thread::Builder::new()
            .name("bench-spin-3".to_owned())
            .spawn(|| read_thread_group_ticks(std::process::id()))
            .expect("thread");
        let groups = spin.join().expect("join");
        assert!(groups.contains_key("bench-spin"), "{groups:?}");
    }

    #[test]
    fn cpu_ticks_are_utime_plus_stime() {
        assert_eq!(parse_cpu_ticks(STAT), Some(175));
    }

    #[test]
    fn cpu_ticks_survive_odd_command_names() {
        let stat = STAT.replace("(mcp-gateway)", "(tokio ) (worker) 7)");
        assert_eq!(parse_cpu_ticks(&stat), Some(175));
    }

    #[test]
    fn cpu_ticks_reject_truncated_or_garbled_text() {
        assert_eq!(parse_cpu_ticks("4242 (x) S 1 2 3"), None);
        assert_eq!(parse_cpu_ticks("no parenthesis at all"), None);
        let garbled = STAT.replace(" 150 ", " x150 ");
        assert_eq!(parse_cpu_ticks(&garbled), None);
    }

    #[test]
    fn own_stat_parses() {
        let text = std::fs::read_to_string("/proc/self/stat").expect("procfs");
        assert!(parse_cpu_ticks(&text).is_some());
        assert!(read_rss_kib(ProcId::SelfProcess).expect("status") > 0);
    }

    #[test]
    fn running_means_neither_zombie_nor_dead() {
        assert!(parse_is_running(STAT));
        assert!(parse_is_running(&STAT.replace(") S ", ") R ")));
        assert!(!parse_is_running(&STAT.replace(") S ", ") Z ")));
        assert!(!parse_is_running(&STAT.replace(") S ", ") X ")));
        assert!(!parse_is_running("garbage"));
        assert!(is_running(std::process::id()));
    }

    #[test]
    fn vm_rss_is_read_in_kib() {
        let status = "Name:\tmcp-gateway\nVmPeak:\t  99999 kB\nVmRSS:\t   12345 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss_kib(status), Some(12345));
    }

    #[test]
    fn vm_rss_missing_or_in_another_unit_is_none() {
        assert_eq!(parse_vm_rss_kib("Name:\tx\nThreads:\t1\n"), None);
        assert_eq!(parse_vm_rss_kib("VmRSS:\t12 MB\n"), None);
        assert_eq!(parse_vm_rss_kib("VmRSS:\tmany kB\n"), None);
    }

    #[test]
    fn ticks_convert_at_the_given_rate() {
        assert_eq!(ticks_to_duration(175, 100), Duration::from_millis(1750));
        assert_eq!(ticks_to_duration(3, 1000), Duration::from_millis(3));
        assert_eq!(ticks_to_duration(1, 3), Duration::from_nanos(333_333_333));
        assert_eq!(ticks_to_duration(50, 0), Duration::from_millis(500));
    }

    #[test]
    fn clock_rate_is_positive() {
        assert!(clock_ticks_per_second() > 0);
    }

    #[test]
    fn watched_process_parses_name_and_pid() {
        let watched: WatchedProcess = "gateway=1234".parse().expect("valid");
        assert_eq!(watched.name, "gateway");
        assert_eq!(watched.pid, 1234);
        assert!("gateway".parse::<WatchedProcess>().is_err());
        assert!("=12".parse::<WatchedProcess>().is_err());
        assert!("gate way=12".parse::<WatchedProcess>().is_err());
        assert!("gateway=0".parse::<WatchedProcess>().is_err());
        assert!("gateway=-3".parse::<WatchedProcess>().is_err());
        assert!("gateway=abc".parse::<WatchedProcess>().is_err());
    }
}
