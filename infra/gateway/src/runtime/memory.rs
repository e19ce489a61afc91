//! Memory like Lambda's: each environment runs in a memory cgroup of its own (cgroup v1, where the host
//! lets this process write one), limited to its function's `MemorySize`. A process that outgrows it is
//! killed by the kernel, as Lambda ends an environment that runs out of memory, and the invocation it
//! held fails with `Runtime.OutOfMemory`. Where there is no writable hierarchy (another container
//! runtime, cgroup v2 without delegation) the gateway says once that limits are not enforced, and runs
//! the environments without them. docs/adr/0020-process-mode.md has the figures.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Where cgroup v1 mounts its memory controller.
const HIERARCHY: &str = "/sys/fs/cgroup/memory";
/// Every gateway's directory under the hierarchy starts with this, then the gateway's pid.
const PREFIX: &str = "orderly-local-";

/// Several sets of environments in one process (the tests) each get a directory of their own.
static CREATED: AtomicU32 = AtomicU32::new(0);

/// This gateway's directory of environment cgroups. Removed when dropped; a gateway that died without
/// removing its own is cleaned up by the next one to start (`create`).
#[derive(Debug)]
pub struct Limits {
    dir: PathBuf,
    /// False: environments are measured, not limited (`ORDERLY_PROCESS_MEMORY=measure`).
    enforce: bool,
}

/// One environment's cgroup.
#[derive(Debug)]
pub struct Confined {
    dir: PathBuf,
}

impl Limits {
    /// This gateway's directory, or `None` (and a log line saying why) where the host offers none.
    pub fn create(enforce: bool) -> Option<Self> {
        Self::create_in(Path::new(HIERARCHY), std::process::id(), enforce)
    }

    fn create_in(hierarchy: &Path, pid: u32, enforce: bool) -> Option<Self> {
        remove_stale(hierarchy);
        let n = CREATED.fetch_add(1, Ordering::Relaxed);
        let dir = hierarchy.join(format!("{PREFIX}{pid}-{n}"));
        match fs::create_dir(&dir) {
            Ok(()) => Some(Self { dir, enforce }),
            Err(e) => {
                tracing::warn!(hierarchy = %hierarchy.display(), error = %e,
                    "memory limits are not enforced: no writable memory cgroup (v1) here; MemorySize is only passed on");
                None
            }
        }
    }

    /// Moves `pid` into a cgroup of its own, limited to `memory_mb` unless only measuring.
    pub fn confine(&self, environment: u64, pid: u32, memory_mb: u64) -> io::Result<Confined> {
        // 0 in `cgroup.procs` means the writer itself: the gateway would confine itself.
        if pid == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no pid"));
        }
        let dir = self.dir.join(format!("environment-{environment}"));
        fs::create_dir(&dir)?;
        let confined = Confined { dir };
        if self.enforce {
            let bytes = (memory_mb * 1024 * 1024).to_string();
            fs::write(confined.dir.join("memory.limit_in_bytes"), &bytes)?;
            // Where swap is accounted, memory and swap together get the same limit: Lambda has no swap.
            let both = confined.dir.join("memory.memsw.limit_in_bytes");
            if both.exists() {
                fs::write(both, &bytes)?;
            }
        }
        fs::write(confined.dir.join("cgroup.procs"), pid.to_string())?;
        Ok(confined)
    }
}

impl Drop for Limits {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.dir);
    }
}

impl Confined {
    /// Whether the kernel killed a process of this cgroup for want of memory.
    pub fn out_of_memory(&self) -> bool {
        fs::read_to_string(self.dir.join("memory.oom_control"))
            .ok()
            .and_then(|control| {
                control
                    .lines()
                    .find_map(|line| line.strip_prefix("oom_kill "))
                    .and_then(|n| n.trim().parse::<u64>().ok())
            })
            .is_some_and(|kills| kills > 0)
    }

    /// The most memory the environment held at once, in bytes (Lambda's "Max Memory Used").
    pub fn max_used(&self) -> Option<u64> {
        fs::read_to_string(self.dir.join("memory.max_usage_in_bytes"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Confined {
    /// An empty cgroup can be removed; the process has ended by the time its environment is dropped.
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.dir);
    }
}

/// Removes what gateways that are gone left behind: their environments' cgroups (empty once their
/// processes ended) and their own directory. A directory whose gateway still runs is left alone.
fn remove_stale(hierarchy: &Path) {
    let Ok(entries) = fs::read_dir(hierarchy) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        if let Ok(children) = fs::read_dir(entry.path()) {
            for child in children.flatten() {
                if child.path().is_dir() {
                    let _ = fs::remove_dir(child.path());
                }
            }
        }
        let _ = fs::remove_dir(entry.path());
    }
}
