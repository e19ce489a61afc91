//! Rate limits as GCRA (generic cell rate algorithm): one timestamp per key, the "theoretical arrival time"
//! (TAT). A request is allowed when, after adding one emission interval, the TAT is at most one period
//! ahead of now. The store applies the rule in one atomic statement; this module owns the arithmetic.

use std::time::Duration;

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub period: Duration,
}

impl Quota {
    pub const fn per_minute(limit: u32) -> Self {
        Self {
            limit,
            period: Duration::from_secs(60),
        }
    }

    /// The time one request "costs": period / limit.
    pub fn emission_interval(&self) -> Duration {
        self.period / self.limit.max(1)
    }
}

pub const PER_USER: Quota = Quota::per_minute(1_000);
pub const PER_API_KEY: Quota = Quota::per_minute(10_000);
pub const LOGIN_PER_IP: Quota = Quota::per_minute(20);
pub const LOGIN_PER_EMAIL: Quota = Quota::per_minute(10);
/// Each registration costs an argon2 hash and makes an account.
pub const REGISTER_PER_IP: Quota = Quota::per_minute(10);
/// A client refreshes once per access token (15 minutes); this leaves room for many behind one NAT.
pub const REFRESH_PER_IP: Quota = Quota::per_minute(60);
/// Monitors poll every few seconds; more than one a second from one address is not monitoring.
pub const HEALTH_PER_IP: Quota = Quota::per_minute(60);
/// Messages one WebSocket connection may send: a client subscribes, unsubscribes and keeps alive, a
/// few a minute; a flood is refused with an error reply, not served.
pub const WS_MESSAGES_PER_CONNECTION: Quota = Quota::per_minute(120);

/// What the store reports for one request: whether it was admitted and the key's TAT afterwards (or,
/// when refused, the TAT that refused it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub allowed: bool,
    pub tat: DateTime<Utc>,
}

/// What the client is told (`RateLimit-*` and `Retry-After` headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the full quota is available again.
    pub reset_seconds: u64,
    /// Seconds until one more request would be admitted (0 when allowed).
    pub retry_after_seconds: u64,
}

fn ceil_seconds(d: chrono::TimeDelta) -> u64 {
    let ms = d.num_milliseconds().max(0) as u64;
    ms.div_ceil(1000)
}

pub fn decide(quota: Quota, outcome: Outcome, now: DateTime<Utc>) -> Decision {
    let period = chrono::TimeDelta::from_std(quota.period).expect("a short period");
    let interval =
        chrono::TimeDelta::from_std(quota.emission_interval()).expect("a short interval");
    let ahead = (outcome.tat - now).max(chrono::TimeDelta::zero());
    let free = period - ahead;
    let remaining = if !outcome.allowed || free <= chrono::TimeDelta::zero() {
        0
    } else {
        (free.num_milliseconds() / interval.num_milliseconds().max(1)) as u32
    };
    let retry_after = if outcome.allowed {
        0
    } else {
        ceil_seconds(ahead + interval - period).max(1)
    };
    Decision {
        allowed: outcome.allowed,
        limit: quota.limit,
        remaining: remaining.min(quota.limit),
        reset_seconds: ceil_seconds(ahead),
        retry_after_seconds: retry_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same rule as the store's statement, in memory, to drive `decide` through a sequence.
    fn admit(quota: Quota, tat: &mut DateTime<Utc>, now: DateTime<Utc>) -> Outcome {
        let interval = chrono::TimeDelta::from_std(quota.emission_interval()).unwrap();
        let next = (*tat).max(now) + interval;
        if next - now <= chrono::TimeDelta::from_std(quota.period).unwrap() {
            *tat = next;
            Outcome {
                allowed: true,
                tat: next,
            }
        } else {
            Outcome {
                allowed: false,
                tat: *tat,
            }
        }
    }

    #[test]
    fn a_burst_of_the_limit_is_admitted_then_refused_with_retry_after() {
        let quota = LOGIN_PER_IP;
        let now = Utc::now();
        let mut tat = now;
        for i in 0..quota.limit {
            let decision = decide(quota, admit(quota, &mut tat, now), now);
            assert!(decision.allowed, "request {i} is within the limit");
            assert_eq!(decision.remaining, quota.limit - i - 1);
        }
        let refused = decide(quota, admit(quota, &mut tat, now), now);
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.retry_after_seconds, 3, "one 60/20 s interval");
        assert_eq!(refused.reset_seconds, 60);
    }

    #[test]
    fn capacity_returns_one_interval_at_a_time() {
        let quota = LOGIN_PER_IP;
        let start = Utc::now();
        let mut tat = start;
        for _ in 0..quota.limit {
            admit(quota, &mut tat, start);
        }
        let later = start + chrono::TimeDelta::seconds(3);
        assert!(decide(quota, admit(quota, &mut tat, later), later).allowed);
        assert!(!decide(quota, admit(quota, &mut tat, later), later).allowed);
        let after_window = start + chrono::TimeDelta::seconds(63);
        let decision = decide(quota, admit(quota, &mut tat, after_window), after_window);
        assert!(decision.allowed);
        assert_eq!(decision.remaining, quota.limit - 1);
    }

    #[test]
    fn a_refusal_never_reports_remaining_capacity() {
        // Under concurrency the store may report a TAT older than the one that refused the request.
        let now = Utc::now();
        let stale = Outcome {
            allowed: false,
            tat: now + chrono::TimeDelta::seconds(10),
        };
        assert_eq!(decide(LOGIN_PER_IP, stale, now).remaining, 0);
    }

    #[test]
    fn intervals_follow_the_quotas() {
        assert_eq!(PER_USER.emission_interval(), Duration::from_millis(60));
        assert_eq!(PER_API_KEY.emission_interval(), Duration::from_millis(6));
    }
}
