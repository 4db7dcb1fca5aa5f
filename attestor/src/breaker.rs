//! A circuit breaker (trust-architecture seed §5): Closed → Open after `failure_threshold`
//! consecutive failures, Open → HalfOpen after `open_timeout_ms`, HalfOpen → Closed after
//! `half_open_successes` successful probes, HalfOpen → Open on any failure. While HalfOpen only
//! `half_open_probes` calls are let through at a time; the rest are routed elsewhere (mirror, cache).
//!
//! Pure: the time is an argument (milliseconds on any monotonic clock), so tests pin it.

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go to the guarded service.
    Closed,
    /// The service is considered down: calls go elsewhere until the timeout passes.
    Open,
    /// A few probe calls test whether the service is back.
    HalfOpen,
}

impl BreakerState {
    /// Lower-case name, for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// Thresholds and timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long the circuit stays open before probing.
    pub open_timeout_ms: u64,
    /// Probe calls allowed at once while half-open.
    pub half_open_probes: u32,
    /// Successful probes that close the circuit again.
    pub half_open_successes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 3,
            open_timeout_ms: 30_000,
            half_open_probes: 1,
            half_open_successes: 1,
        }
    }
}

/// The breaker. Ask [`Breaker::admit`] before a call and report its outcome with
/// [`Breaker::success`] or [`Breaker::failure`].
#[derive(Debug, Clone)]
pub struct Breaker {
    cfg: BreakerConfig,
    state: BreakerState,
    failures: u32,
    opened_at: u64,
    probes_in_flight: u32,
    probe_successes: u32,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(cfg: BreakerConfig) -> Breaker {
        Breaker {
            cfg: BreakerConfig {
                failure_threshold: cfg.failure_threshold.max(1),
                half_open_probes: cfg.half_open_probes.max(1),
                half_open_successes: cfg.half_open_successes.max(1),
                ..cfg
            },
            state: BreakerState::Closed,
            failures: 0,
            opened_at: 0,
            probes_in_flight: 0,
            probe_successes: 0,
        }
    }

    /// The state at `now` (an open circuit whose timeout has passed reads as half-open).
    pub fn state(&self, now: u64) -> BreakerState {
        match self.state {
            BreakerState::Open
                if now.saturating_sub(self.opened_at) >= self.cfg.open_timeout_ms =>
            {
                BreakerState::HalfOpen
            }
            s => s,
        }
    }

    /// May a call go to the guarded service now? A `true` while half-open reserves a probe slot,
    /// which the matching `success`/`failure` releases.
    pub fn admit(&mut self, now: u64) -> bool {
        if self.state == BreakerState::Open && self.state(now) == BreakerState::HalfOpen {
            self.state = BreakerState::HalfOpen;
            self.probes_in_flight = 0;
            self.probe_successes = 0;
        }
        match self.state {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen => {
                if self.probes_in_flight < self.cfg.half_open_probes {
                    self.probes_in_flight += 1;
                    true
                } else {
                    false
                }
            }
        }
    }

    /// The admitted call succeeded.
    pub fn success(&mut self, _now: u64) {
        match self.state {
            BreakerState::Closed => self.failures = 0,
            BreakerState::HalfOpen => {
                self.probes_in_flight = self.probes_in_flight.saturating_sub(1);
                self.probe_successes += 1;
                if self.probe_successes >= self.cfg.half_open_successes {
                    self.state = BreakerState::Closed;
                    self.failures = 0;
                }
            }
            BreakerState::Open => {}
        }
    }

    /// The admitted call failed (transport error, timeout or 5xx — not a 4xx answer, which says the
    /// service is up).
    pub fn failure(&mut self, now: u64) {
        match self.state {
            BreakerState::Closed => {
                self.failures += 1;
                if self.failures >= self.cfg.failure_threshold {
                    self.open(now);
                }
            }
            BreakerState::HalfOpen => self.open(now),
            BreakerState::Open => {}
        }
    }

    fn open(&mut self, now: u64) {
        self.state = BreakerState::Open;
        self.opened_at = now;
        self.failures = 0;
        self.probes_in_flight = 0;
        self.probe_successes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BreakerConfig {
        BreakerConfig {
            failure_threshold: 3,
            open_timeout_ms: 1_000,
            half_open_probes: 1,
            half_open_successes: 2,
        }
    }

    #[test]
    fn opens_after_threshold_consecutive_failures_only() {
        let mut b = Breaker::new(cfg());
        assert!(b.admit(0));
        b.failure(0);
        b.failure(1);
        b.success(2); // resets the run
        b.failure(3);
        b.failure(4);
        assert_eq!(b.state(4), BreakerState::Closed);
        b.failure(5);
        assert_eq!(b.state(5), BreakerState::Open);
        assert!(!b.admit(6));
        assert!(!b.admit(1_004));
    }

    #[test]
    fn half_open_admits_one_probe_and_closes_after_enough_successes() {
        let mut b = Breaker::new(cfg());
        for t in 0..3 {
            b.failure(t);
        }
        assert_eq!(b.state(1_002), BreakerState::HalfOpen);
        assert!(b.admit(1_002));
        assert!(!b.admit(1_002), "only one probe at a time");
        b.success(1_003);
        assert_eq!(
            b.state(1_003),
            BreakerState::HalfOpen,
            "needs two successes"
        );
        assert!(b.admit(1_003));
        b.success(1_004);
        assert_eq!(b.state(1_004), BreakerState::Closed);
        assert!(b.admit(1_004) && b.admit(1_004));
    }

    #[test]
    fn a_failed_probe_reopens_for_a_full_timeout() {
        let mut b = Breaker::new(cfg());
        for t in 0..3 {
            b.failure(t);
        }
        assert!(b.admit(1_500));
        b.failure(1_500);
        assert_eq!(b.state(1_600), BreakerState::Open);
        assert!(!b.admit(2_400));
        assert!(b.admit(2_500));
    }

    #[test]
    fn zero_thresholds_are_clamped() {
        let mut b = Breaker::new(BreakerConfig {
            failure_threshold: 0,
            open_timeout_ms: 0,
            half_open_probes: 0,
            half_open_successes: 0,
        });
        b.failure(0);
        assert_eq!(b.state(0), BreakerState::HalfOpen);
        assert!(b.admit(0));
        b.success(0);
        assert_eq!(b.state(0), BreakerState::Closed);
    }
}
