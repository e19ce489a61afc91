//! What Postgres's client backends do during a side's measured window, sampled every `EVERY`: how many
//! run a statement, and how many of those wait on a lock. One hot product's half-rate run has collapsed
//! (p99 of seconds, where the next run of the same commit answered in 12 ms): a pile-up of placements
//! queued on the product's row shows here as a waiting count near the number running, second after
//! second; a stall elsewhere (the disk, the emulator, the gateway) as few running at all.

use std::time::Duration;

use crate::env;

const EVERY: Duration = Duration::from_millis(100);

/// The busiest sample of one second: backends running a statement, and of those waiting on a lock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Busiest {
    pub running: i64,
    pub waiting_on_a_lock: i64,
}

/// Samples after `warm_up`, for `measure`, on a connection of its own (not one the side uses); the task
/// ends with one `Busiest` per measured second. A sample that fails leaves its second as it was.
pub fn watch(warm_up: Duration, measure: Duration) -> tokio::task::JoinHandle<Vec<Busiest>> {
    tokio::spawn(async move {
        let seconds = measure.as_secs().max(1) as usize;
        let mut busiest = vec![Busiest::default(); seconds];
        let Ok((db, connection)) =
            tokio_postgres::connect(&env("DATABASE_URL"), tokio_postgres::NoTls).await
        else {
            return busiest;
        };
        tokio::spawn(connection);
        tokio::time::sleep(warm_up).await;
        let started = tokio::time::Instant::now();
        let mut ticks = tokio::time::interval(EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        while started.elapsed() < measure {
            ticks.tick().await;
            let second = (started.elapsed().as_secs() as usize).min(seconds - 1);
            // Itself excluded: it runs a statement every time it looks.
            let Ok(row) = db
                .query_one(
                    "SELECT count(*) FILTER (WHERE state = 'active'),
                            count(*) FILTER (WHERE state = 'active' AND wait_event_type = 'Lock')
                       FROM pg_stat_activity
                      WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
                    &[],
                )
                .await
            else {
                continue;
            };
            let sample = Busiest {
                running: row.get(0),
                waiting_on_a_lock: row.get(1),
            };
            let slot = &mut busiest[second];
            if sample.running > slot.running {
                *slot = sample;
            }
        }
        busiest
    })
}

/// "12/9 3/0 …": each second's busiest sample, running/waiting on a lock.
pub fn timeline(seconds: &[Busiest]) -> String {
    seconds
        .iter()
        .map(|b| format!("{}/{}", b.running, b.waiting_on_a_lock))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeline_reads_second_by_second() {
        let seconds = [
            Busiest {
                running: 12,
                waiting_on_a_lock: 9,
            },
            Busiest::default(),
        ];
        assert_eq!(timeline(&seconds), "12/9 0/0");
    }
}
