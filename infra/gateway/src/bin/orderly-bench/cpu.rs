//! Where a side's CPU went: the machine's processes' user + system time from `/proc`, summed by what
//! they are (Postgres's backends and workers, the emulator, the gateway with the functions it runs in
//! process, pgbench, this load generator), taken at the start and the end of a side's measured window.
//! Divided by the orders the window finished, it says what each part costs an order, which is where a
//! ratio to pgbench is won or lost: on two cores the stack's rate is about 2 s ÷ its CPU per order.

use std::collections::BTreeMap;
use std::time::Duration;

/// The parts of the machine a side's work runs in, in the order they are printed.
pub const PARTS: [&str; 5] = ["postgres", "emulator", "gateway", "pgbench", "load"];

/// CPU seconds by part, since boot (a sample) or over a window (a difference of two).
#[derive(Clone, Debug, Default)]
pub struct Cpu(BTreeMap<&'static str, f64>);

/// `/proc/<pid>/stat` counts in clock ticks; Linux fixes their rate for `/proc` at 100 a second
/// (`USER_HZ`) whatever the kernel's own tick.
const TICKS_PER_SECOND: f64 = 100.0;

/// The part a process belongs to, by its command name (`comm`, at most 15 bytes).
fn part(comm: &str) -> Option<&'static str> {
    match comm {
        "postgres" => Some("postgres"),
        "orderly-local" => Some("gateway"),
        "pgbench" => Some("pgbench"),
        "orderly-bench" => Some("load"),
        c if c.starts_with("python") => Some("emulator"),
        _ => None,
    }
}

impl Cpu {
    /// Every process's CPU time so far, by part. A process that ended since the last sample takes its
    /// time with it; during a side none of these parts start or end processes but Postgres's
    /// short-lived workers, whose share is small.
    pub fn sample() -> Self {
        let mut parts = BTreeMap::new();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Self(parts);
        };
        for entry in dir.flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid … utime stime: comm may hold spaces, so split after its `)`.
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                continue;
            };
            let Some(part) = part(&stat[open + 1..close]) else {
                continue;
            };
            let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
            // After comm: state is field 3 of stat(5), utime 14 and stime 15.
            let ticks = |n: usize| {
                fields
                    .get(n - 3)
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            *parts.entry(part).or_insert(0.0) += (ticks(14) + ticks(15)) / TICKS_PER_SECOND;
        }
        Self(parts)
    }

    /// The CPU spent between `earlier` and this sample.
    pub fn since(&self, earlier: &Cpu) -> Cpu {
        Cpu(PARTS
            .iter()
            .map(|p| {
                let now = self.0.get(p).copied().unwrap_or(0.0);
                let then = earlier.0.get(p).copied().unwrap_or(0.0);
                (*p, (now - then).max(0.0))
            })
            .collect())
    }

    /// Adds another window's CPU to this one.
    pub fn add(&mut self, other: &Cpu) {
        for (p, s) in &other.0 {
            *self.0.entry(p).or_insert(0.0) += s;
        }
    }

    /// Milliseconds of CPU per unit of work (`done` orders or transactions), by part, for the parts
    /// that used any: "postgres 0.61, emulator 0.38, … = 1.52 ms".
    pub fn per(&self, done: f64) -> String {
        if done <= 0.0 {
            return "no work done".into();
        }
        let shares: Vec<(&str, f64)> = PARTS
            .iter()
            .filter_map(|p| self.0.get(p).map(|s| (*p, s * 1000.0 / done)))
            .filter(|(_, ms)| *ms >= 0.005)
            .collect();
        let total = self.per_total(done);
        let listed: Vec<String> = shares
            .iter()
            .map(|(p, ms)| format!("{p} {ms:.2}"))
            .collect();
        format!("{} = {total:.2} ms", listed.join(", "))
    }

    /// Milliseconds per unit of work of every part together.
    pub fn per_total(&self, done: f64) -> f64 {
        if done <= 0.0 {
            return 0.0;
        }
        self.0.values().sum::<f64>() * 1000.0 / done
    }

    /// Milliseconds per unit of work of one part.
    pub fn part_per(&self, part: &str, done: f64) -> f64 {
        self.0.get(part).copied().unwrap_or(0.0) * 1000.0 / done.max(1.0)
    }
}

/// Samples the machine's CPU after `warm_up` and again after `measure` more, the window a side counts
/// its work in; the returned task ends with the difference. When `ORDERLY_BENCH_PROFILE` holds a shell
/// command, it is started at the window's start with `BENCH_SIDE` (e.g. `hot-stack-1`) and
/// `BENCH_SECONDS` in its environment, to profile exactly what a side measures (for example
/// `py-spy record -d $BENCH_SECONDS -p <emulator> -o /tmp/$BENCH_SIDE.svg`); the side does not wait
/// for it.
pub fn window(warm_up: Duration, measure: Duration, side: String) -> tokio::task::JoinHandle<Cpu> {
    tokio::spawn(async move {
        tokio::time::sleep(warm_up).await;
        let start = Cpu::sample();
        if let Ok(command) = std::env::var("ORDERLY_BENCH_PROFILE") {
            let started = std::process::Command::new("sh")
                .args(["-c", &command])
                .env("BENCH_SIDE", &side)
                .env("BENCH_SECONDS", measure.as_secs().to_string())
                .spawn();
            if let Err(e) = started {
                println!("  could not start the profiler for {side}: {e}");
            }
        }
        tokio::time::sleep(measure).await;
        Cpu::sample().since(&start)
    })
}
