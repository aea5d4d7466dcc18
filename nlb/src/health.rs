//! Backend health as a pure state machine: probe results in, health changes (each with a reason)
//! out. No I/O and no clock: time is a number of milliseconds the caller passes in, so every
//! transition is unit-tested; [`crate::probe`] is the thin tokio shell that runs real probes.
//!
//! # States
//! - [`Health::Unknown`]: not yet proven either way (a new backend, or a changed check). Takes no
//!   new flows.
//! - [`Health::Healthy`]: `retries_up` consecutive successes; takes new flows.
//! - [`Health::Unhealthy`]: `retries_down` consecutive failures; takes no new flows, and its
//!   existing flows move to live backends.
//! - [`Health::Draining`]: weight 0, whatever the probes say; takes no new flows and keeps the
//!   existing ones while its probes do not call it unhealthy (see [`HealthTracker::dataplane`]).
//!   Probes go on while draining, so that the state after the drain is known at once.
//!
//! Counting: a success resets the failure streak and a failure the success streak; from
//! `Unknown` the first threshold reached decides. Each change is one [`HealthEvent`] with a
//! [`Reason`].

use std::fmt;
use std::time::Duration;

use crate::error::{Error, Result};

/// Milliseconds on a monotonic clock chosen by the caller.
pub type Millis = u64;

/// A backend's health as the API and `sdnctl` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Health {
    /// Not yet proven either way.
    Unknown,
    /// Passing its checks: takes new flows.
    Healthy,
    /// Failing its checks: takes no flows.
    Unhealthy,
    /// Weight 0: keeps its flows, takes no new ones.
    Draining,
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Health::Unknown => "unknown",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
            Health::Draining => "draining",
        })
    }
}

/// Why a probe failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeFailure {
    /// No answer within the check's timeout.
    Timeout,
    /// The connection was refused (nothing listens).
    Refused,
    /// The connection was reset or closed before an answer.
    Reset,
    /// Another I/O error, by kind (`std::io::ErrorKind` as text, e.g. "host unreachable").
    Io(String),
    /// HTTP: the status differs from the expected one.
    Status {
        /// What the backend answered.
        got: u16,
        /// What the check expects.
        expected: u16,
    },
    /// HTTP: the answer is not an HTTP/1.x status line.
    Malformed,
}

impl fmt::Display for ProbeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeFailure::Timeout => f.write_str("timeout"),
            ProbeFailure::Refused => f.write_str("connection refused"),
            ProbeFailure::Reset => f.write_str("connection reset"),
            ProbeFailure::Io(kind) => write!(f, "i/o error: {kind}"),
            ProbeFailure::Status { got, expected } => {
                write!(f, "http status {got}, expected {expected}")
            }
            ProbeFailure::Malformed => f.write_str("malformed http response"),
        }
    }
}

/// One probe's result.
pub type ProbeResult = std::result::Result<(), ProbeFailure>;

/// Why the health changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// `count` consecutive successful probes.
    Passed {
        /// The streak that crossed `retries_up`.
        count: u32,
    },
    /// `count` consecutive failed probes, the last one for `last`.
    Failed {
        /// The streak that crossed `retries_down`.
        count: u32,
        /// Why the last probe failed.
        last: ProbeFailure,
    },
    /// The backend's weight went to 0.
    DrainStarted,
    /// The backend's weight went above 0 again.
    DrainEnded,
    /// The check itself changed; health is unknown until probes decide again.
    CheckChanged,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Passed { count } => write!(f, "{count} consecutive probe(s) passed"),
            Reason::Failed { count, last } => {
                write!(f, "{count} consecutive probe(s) failed (last: {last})")
            }
            Reason::DrainStarted => f.write_str("weight set to 0 (drain)"),
            Reason::DrainEnded => f.write_str("weight above 0 again"),
            Reason::CheckChanged => f.write_str("health check changed"),
        }
    }
}

/// A change of health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthEvent {
    /// The health before.
    pub from: Health,
    /// The health after.
    pub to: Health,
    /// Why.
    pub reason: Reason,
    /// When (the caller's clock).
    pub at: Millis,
}

/// What the LB dataplane does with a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dataplane {
    /// The backend owns Maglev slots (takes new flows).
    pub in_table: bool,
    /// Its existing flows stay with it (`SDN_LB_BACKEND_UP`).
    pub up: bool,
}

/// A health check's timing and thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthConfig {
    /// Time between the starts of two probes.
    pub interval: Duration,
    /// How long a probe may take.
    pub timeout: Duration,
    /// Consecutive failures that make a backend unhealthy.
    pub retries_down: u32,
    /// Consecutive successes that make a backend healthy.
    pub retries_up: u32,
}

impl HealthConfig {
    /// A validated config: interval and timeout above zero, timeout at most the interval, both
    /// retry counts at least 1.
    pub fn new(
        interval: Duration,
        timeout: Duration,
        retries_down: u32,
        retries_up: u32,
    ) -> Result<Self> {
        let invalid = |why: &'static str| Error::InvalidHealthCheck { why };
        if interval.is_zero() {
            return Err(invalid("interval must be above 0"));
        }
        if timeout.is_zero() || timeout > interval {
            return Err(invalid("timeout must be above 0 and at most the interval"));
        }
        if retries_down == 0 || retries_up == 0 {
            return Err(invalid("retries down and retries up must be at least 1"));
        }
        Ok(HealthConfig {
            interval,
            timeout,
            retries_down,
            retries_up,
        })
    }

    /// The longest time from a backend's death to its removal from the table:
    /// `interval * retries_down + timeout`.
    pub fn detection_bound(&self) -> Duration {
        self.interval * self.retries_down + self.timeout
    }
}

impl Default for HealthConfig {
    /// 5 s interval, 2 s timeout, 3 down, 2 up.
    fn default() -> Self {
        HealthConfig {
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            retries_down: 3,
            retries_up: 2,
        }
    }
}

/// The health of one backend: feed it probe results and drain changes; it says when to probe next
/// and which changes happened.
#[derive(Debug, Clone)]
pub struct HealthTracker {
    config: HealthConfig,
    /// What the probes say (never `Draining`).
    probed: Health,
    draining: bool,
    successes: u32,
    failures: u32,
    next_probe_at: Millis,
}

impl HealthTracker {
    /// A backend first seen at `now`: unknown, probed at once; `draining` when its weight is 0.
    pub fn new(config: HealthConfig, draining: bool, now: Millis) -> Self {
        HealthTracker {
            config,
            probed: Health::Unknown,
            draining,
            successes: 0,
            failures: 0,
            next_probe_at: now,
        }
    }

    /// The health shown to users.
    pub fn health(&self) -> Health {
        if self.draining {
            Health::Draining
        } else {
            self.probed
        }
    }

    /// What the probes alone say (`Unknown`, `Healthy` or `Unhealthy`), draining or not.
    pub fn probed(&self) -> Health {
        self.probed
    }

    /// The check's config.
    pub fn config(&self) -> &HealthConfig {
        &self.config
    }

    /// What the dataplane does: new flows only to healthy backends; existing flows stay unless
    /// the probes call the backend unhealthy (a draining backend keeps them).
    pub fn dataplane(&self) -> Dataplane {
        Dataplane {
            in_table: self.health() == Health::Healthy,
            up: self.probed != Health::Unhealthy,
        }
    }

    /// When the next probe should start.
    pub fn next_probe_at(&self) -> Millis {
        self.next_probe_at
    }

    /// Whether a probe is due at `now`.
    pub fn probe_due(&self, now: Millis) -> bool {
        now >= self.next_probe_at
    }

    /// Records the result of the probe started at `started` (finished at `now`); returns the
    /// change it caused, if any. The next probe is due one interval after `started`.
    pub fn on_probe(
        &mut self,
        started: Millis,
        now: Millis,
        result: ProbeResult,
    ) -> Option<HealthEvent> {
        let interval = self.config.interval.as_millis() as u64;
        self.next_probe_at = started.saturating_add(interval).max(now);
        let before = self.health();
        let reason = match result {
            Ok(()) => {
                self.failures = 0;
                self.successes = self.successes.saturating_add(1);
                if self.probed != Health::Healthy && self.successes >= self.config.retries_up {
                    self.probed = Health::Healthy;
                    Some(Reason::Passed {
                        count: self.successes,
                    })
                } else {
                    None
                }
            }
            Err(failure) => {
                self.successes = 0;
                self.failures = self.failures.saturating_add(1);
                if self.probed != Health::Unhealthy && self.failures >= self.config.retries_down {
                    self.probed = Health::Unhealthy;
                    Some(Reason::Failed {
                        count: self.failures,
                        last: failure,
                    })
                } else {
                    None
                }
            }
        }?;
        self.event(before, reason, now)
    }

    /// The backend's weight changed: 0 starts a drain, above 0 ends it.
    pub fn set_draining(&mut self, draining: bool, now: Millis) -> Option<HealthEvent> {
        if draining == self.draining {
            return None;
        }
        let before = self.health();
        self.draining = draining;
        let reason = if draining {
            Reason::DrainStarted
        } else {
            Reason::DrainEnded
        };
        self.event(before, reason, now)
    }

    /// The check changed (mode, port, path, thresholds): health is unknown again, probed at once.
    pub fn set_config(&mut self, config: HealthConfig, now: Millis) -> Option<HealthEvent> {
        if config == self.config {
            return None;
        }
        self.config = config;
        let before = self.health();
        self.probed = Health::Unknown;
        self.successes = 0;
        self.failures = 0;
        self.next_probe_at = now;
        self.event(before, Reason::CheckChanged, now)
    }

    fn event(&self, from: Health, reason: Reason, at: Millis) -> Option<HealthEvent> {
        let to = self.health();
        (from != to).then_some(HealthEvent {
            from,
            to,
            reason,
            at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(down: u32, up: u32) -> HealthConfig {
        HealthConfig::new(Duration::from_secs(5), Duration::from_secs(2), down, up).unwrap()
    }

    /// Runs probes at 0, 5000, 10000, ... and returns the events with the probe number.
    fn run(tracker: &mut HealthTracker, results: &[ProbeResult]) -> Vec<(usize, HealthEvent)> {
        let mut events = Vec::new();
        for (i, r) in results.iter().enumerate() {
            let at = tracker.next_probe_at();
            if let Some(e) = tracker.on_probe(at, at + 10, r.clone()) {
                events.push((i, e));
            }
        }
        events
    }

    const OK: ProbeResult = Ok(());
    fn fail() -> ProbeResult {
        Err(ProbeFailure::Refused)
    }

    #[test]
    fn a_new_backend_is_unknown_until_a_threshold_is_reached() {
        let mut t = HealthTracker::new(cfg(3, 2), false, 0);
        assert_eq!(t.health(), Health::Unknown);
        assert_eq!(
            t.dataplane(),
            Dataplane {
                in_table: false,
                up: true
            }
        );
        let events = run(&mut t, &[OK, OK]);
        assert_eq!(events.len(), 1);
        let (i, e) = &events[0];
        assert_eq!((*i, e.from, e.to), (1, Health::Unknown, Health::Healthy));
        assert_eq!(e.reason, Reason::Passed { count: 2 });
        assert_eq!(e.reason.to_string(), "2 consecutive probe(s) passed");
        assert!(t.dataplane().in_table);

        let mut t = HealthTracker::new(cfg(3, 2), false, 0);
        let events = run(&mut t, &[fail(), fail(), fail()]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].1.to, Health::Unhealthy);
        assert_eq!(events[0].0, 2);
        assert!(!t.dataplane().up);
    }

    #[test]
    fn healthy_goes_down_after_retries_down_consecutive_failures_only() {
        let mut t = HealthTracker::new(cfg(3, 2), false, 0);
        run(&mut t, &[OK, OK]);
        // Two failures, a success (the streak restarts), then three failures.
        let events = run(&mut t, &[fail(), fail(), OK, fail(), fail(), fail()]);
        assert_eq!(events.len(), 1);
        let (i, e) = &events[0];
        assert_eq!((*i, e.from, e.to), (5, Health::Healthy, Health::Unhealthy));
        assert_eq!(
            e.reason,
            Reason::Failed {
                count: 3,
                last: ProbeFailure::Refused
            }
        );
        assert_eq!(
            e.reason.to_string(),
            "3 consecutive probe(s) failed (last: connection refused)"
        );
        // More failures change nothing.
        assert!(run(&mut t, &[fail(), fail()]).is_empty());
    }

    #[test]
    fn unhealthy_comes_back_after_retries_up_consecutive_successes() {
        let mut t = HealthTracker::new(cfg(1, 3), false, 0);
        run(&mut t, &[Err(ProbeFailure::Timeout)]);
        assert_eq!(t.health(), Health::Unhealthy);
        let events = run(&mut t, &[OK, OK, fail(), OK, OK, OK]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].0, 5);
        assert_eq!(events[0].1.to, Health::Healthy);
    }

    #[test]
    fn drain_keeps_flows_takes_no_new_ones_and_probes_go_on() {
        let mut t = HealthTracker::new(cfg(2, 1), false, 0);
        run(&mut t, &[OK]);
        let e = t.set_draining(true, 100).unwrap();
        assert_eq!(
            (e.from, e.to, e.reason.clone()),
            (Health::Healthy, Health::Draining, Reason::DrainStarted)
        );
        assert_eq!(
            t.dataplane(),
            Dataplane {
                in_table: false,
                up: true
            }
        );
        assert_eq!(t.set_draining(true, 200), None, "no change, no event");
        // Probes fail while draining: the shown state stays draining, but the flows go.
        assert!(run(&mut t, &[fail(), fail()]).is_empty());
        assert_eq!(t.health(), Health::Draining);
        assert_eq!(t.probed(), Health::Unhealthy);
        assert!(!t.dataplane().up);
        // Weight back: the probes' verdict shows at once.
        let e = t.set_draining(false, 300).unwrap();
        assert_eq!((e.to, e.reason), (Health::Unhealthy, Reason::DrainEnded));
    }

    #[test]
    fn a_backend_added_with_weight_zero_is_draining_from_the_start() {
        let mut t = HealthTracker::new(cfg(2, 1), true, 0);
        assert_eq!(t.health(), Health::Draining);
        assert!(run(&mut t, &[OK]).is_empty());
        let e = t.set_draining(false, 1).unwrap();
        assert_eq!((e.from, e.to), (Health::Draining, Health::Healthy));
    }

    #[test]
    fn probes_are_scheduled_one_interval_after_the_previous_start() {
        let mut t = HealthTracker::new(cfg(2, 1), false, 1_000);
        assert!(t.probe_due(1_000));
        assert!(!t.probe_due(999));
        t.on_probe(1_000, 1_300, OK);
        assert_eq!(t.next_probe_at(), 6_000);
        // A probe that overran its slot: the next starts right away, not in the past.
        t.on_probe(6_000, 12_000, fail());
        assert_eq!(t.next_probe_at(), 12_000);
    }

    #[test]
    fn a_changed_check_makes_health_unknown_again() {
        let mut t = HealthTracker::new(cfg(2, 1), false, 0);
        run(&mut t, &[OK]);
        assert_eq!(t.set_config(cfg(2, 1), 5), None, "same config, no event");
        let e = t.set_config(cfg(3, 2), 10).unwrap();
        assert_eq!(
            (e.from, e.to, e.reason),
            (Health::Healthy, Health::Unknown, Reason::CheckChanged)
        );
        assert!(t.probe_due(10));
        assert_eq!(t.config().retries_up, 2);
    }

    #[test]
    fn detection_bound_and_validation() {
        let c = cfg(3, 2);
        assert_eq!(c.detection_bound(), Duration::from_secs(17));
        let s = Duration::from_secs;
        for (interval, timeout, down, up) in [
            (s(0), s(1), 1, 1),
            (s(5), s(0), 1, 1),
            (s(5), s(6), 1, 1),
            (s(5), s(2), 0, 1),
            (s(5), s(2), 1, 0),
        ] {
            let e = HealthConfig::new(interval, timeout, down, up).unwrap_err();
            assert!(matches!(e, Error::InvalidHealthCheck { .. }), "{e}");
        }
        assert_eq!(HealthConfig::default().retries_down, 3);
    }

    #[test]
    fn failures_and_states_read_well() {
        let cases = [
            (ProbeFailure::Timeout, "timeout"),
            (ProbeFailure::Reset, "connection reset"),
            (
                ProbeFailure::Io("host unreachable".into()),
                "i/o error: host unreachable",
            ),
            (
                ProbeFailure::Status {
                    got: 503,
                    expected: 200,
                },
                "http status 503, expected 200",
            ),
            (ProbeFailure::Malformed, "malformed http response"),
        ];
        for (f, text) in cases {
            assert_eq!(f.to_string(), text);
        }
        let names: Vec<String> = [
            Health::Unknown,
            Health::Healthy,
            Health::Unhealthy,
            Health::Draining,
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(names, ["unknown", "healthy", "unhealthy", "draining"]);
    }
}
