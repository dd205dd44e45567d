//! What happens after a failed attempt: retry after a delay, or fail permanently.
//! Pure and table-tested: callers pass the jitter sample in.

use crate::template::{BackoffKind, RetryConfig};

/// Upper bound for a server-requested delay (Retry-After): one hour.
pub const MAX_RETRY_AFTER_MS: u64 = 3_600_000;

/// Facts about one failed attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureInput<'a> {
    pub retry: &'a RetryConfig,
    /// Attempts made so far, including the one that just failed (>= 1).
    pub attempts: u32,
    /// The handler's classification: `false` for PermanentError / validation errors.
    pub retryable: bool,
    /// A server-requested delay (Retry-After), in ms, when the failure carried one.
    pub retry_after_ms: Option<u64>,
    /// A uniform sample in [0, 1) used for jitter.
    pub jitter: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FailureDecision {
    /// Try again after `delay_ms`.
    Retry { delay_ms: u64 },
    /// Give up: the step goes to `error`. `reason` is a user-facing sentence.
    Permanent { reason: String },
}

/// Decide what a failed attempt leads to.
///
/// 1. **Permanent** when the handler classified the failure as permanent (`input.retryable ==
///    false`), when the step is not retryable (`retry.retryable == false`), or when no attempts
///    are left (`attempts >= retry.max_attempts`; `max_attempts` counts the first attempt).
/// 2. Otherwise, a server-requested delay (`retry_after_ms`, e.g. from Retry-After) wins:
///    `Retry { delay_ms: min(retry_after_ms, MAX_RETRY_AFTER_MS) }`, exactly, without jitter and
///    without the step's `max_backoff_ms` cap.
/// 3. Otherwise the step's backoff with `n = attempts` (at least 1), in saturating arithmetic:
///    `none` → 0, `linear` → `base·n`, `exponential` → `base·2^(n-1)`, `fibonacci` →
///    `base·fib(n)` with fib = 1, 1, 2, 3, 5, …. The result `d` is capped at `max_backoff_ms`,
///    then jittered down: `round(d · (0.85 + 0.15·jitter))`, so the delay is always within
///    `[0.85·d, d]`, never above the cap. `jitter` is clamped to [0, 1] (non-finite → 0).
pub fn decide_failure(input: &FailureInput<'_>) -> FailureDecision {
    let retry = input.retry;
    let permanent = |reason: String| FailureDecision::Permanent { reason };
    if !input.retryable {
        return permanent("the handler reported a permanent failure".to_string());
    }
    if !retry.retryable {
        return permanent("the step is not retryable (retry.retryable: false)".to_string());
    }
    if input.attempts >= retry.max_attempts {
        return permanent(format!(
            "attempt {} of {} failed; no attempts left",
            input.attempts, retry.max_attempts
        ));
    }
    if let Some(ms) = input.retry_after_ms {
        return FailureDecision::Retry {
            delay_ms: ms.min(MAX_RETRY_AFTER_MS),
        };
    }
    let capped = backoff_ms(retry.backoff, retry.backoff_base_ms, input.attempts.max(1))
        .min(retry.max_backoff_ms);
    FailureDecision::Retry {
        delay_ms: apply_jitter(capped, input.jitter),
    }
}

/// The un-capped, un-jittered delay after the `n`-th failed attempt (`n >= 1`).
fn backoff_ms(kind: BackoffKind, base: u64, n: u32) -> u64 {
    match kind {
        BackoffKind::None => 0,
        BackoffKind::Linear => base.saturating_mul(u64::from(n)),
        BackoffKind::Exponential => {
            let factor = 1u64.checked_shl(n - 1).unwrap_or(u64::MAX);
            base.saturating_mul(factor)
        }
        BackoffKind::Fibonacci => base.saturating_mul(fibonacci(n)),
    }
}

/// fib(1) = fib(2) = 1, fib(3) = 2, …; saturates at `u64::MAX`.
fn fibonacci(n: u32) -> u64 {
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 1..n {
        if b == u64::MAX {
            break;
        }
        (a, b) = (b, a.saturating_add(b));
    }
    b
}

fn apply_jitter(delay_ms: u64, jitter: f64) -> u64 {
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let jittered = (delay_ms as f64 * (0.85 + 0.15 * jitter)).round() as u64;
    jittered.min(delay_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry(backoff: BackoffKind, base: u64, max: u64, max_attempts: u32) -> RetryConfig {
        RetryConfig {
            retryable: true,
            max_attempts,
            backoff,
            backoff_base_ms: base,
            max_backoff_ms: max,
        }
    }

    fn decide(retry: &RetryConfig, attempts: u32, jitter: f64) -> FailureDecision {
        decide_failure(&FailureInput {
            retry,
            attempts,
            retryable: true,
            retry_after_ms: None,
            jitter,
        })
    }

    fn delay(d: FailureDecision) -> u64 {
        match d {
            FailureDecision::Retry { delay_ms } => delay_ms,
            other => panic!("expected a retry, got {other:?}"),
        }
    }

    #[test]
    fn backoff_kinds_before_jitter() {
        use BackoffKind::*;
        // (kind, base, attempts, expected un-capped delay)
        let cases = [
            (None, 1000, 1, 0),
            (None, 1000, 7, 0),
            (Linear, 1000, 1, 1000),
            (Linear, 1000, 4, 4000),
            (Exponential, 1000, 1, 1000),
            (Exponential, 1000, 2, 2000),
            (Exponential, 1000, 5, 16000),
            (Exponential, 0, 10, 0),
            (Fibonacci, 100, 1, 100),
            (Fibonacci, 100, 2, 100),
            (Fibonacci, 100, 3, 200),
            (Fibonacci, 100, 6, 800),
            (Fibonacci, 1, 90, 2_880_067_194_370_816_120),
            // Saturation instead of overflow.
            (Linear, u64::MAX, 100, u64::MAX),
            (Exponential, 1000, 100, u64::MAX),
            (Exponential, 1, 64, 1 << 63),
            (Exponential, 1, 65, u64::MAX),
            (Fibonacci, 1000, 100, u64::MAX),
            (Fibonacci, 1, u32::MAX, u64::MAX),
        ];
        for (kind, base, n, want) in cases {
            assert_eq!(
                backoff_ms(kind, base, n),
                want,
                "{kind:?} base={base} n={n}"
            );
        }
    }

    #[test]
    fn retry_delays_capped_and_jittered() {
        use BackoffKind::*;
        // (config, attempts, jitter, expected delay)
        let cases = [
            // jitter 0 → 85% of the capped delay; jitter 0.999 → just below it.
            (retry(Exponential, 1000, 30_000, 10), 1, 0.0, 850),
            (retry(Exponential, 1000, 30_000, 10), 1, 0.999, 1000),
            (retry(Exponential, 20_000, 30_000, 10), 1, 0.999, 19_997),
            (retry(Exponential, 1000, 30_000, 10), 3, 0.0, 3400),
            (retry(Exponential, 1000, 30_000, 10), 3, 0.999, 3999),
            (retry(Linear, 500, 30_000, 10), 3, 0.0, 1275),
            (retry(Fibonacci, 1000, 30_000, 10), 4, 0.0, 2550),
            (retry(None, 1000, 30_000, 10), 2, 0.999, 0),
            // Capped at max_backoff_ms before jitter (never above the cap).
            (retry(Exponential, 1000, 30_000, 10), 9, 0.0, 25_500),
            (retry(Exponential, 1000, 20_000, 10), 9, 0.999, 19_997),
            (retry(Linear, 1000, 2_500, 10), 5, 0.999, 2_500),
            (retry(Linear, 1000, 2_500, 10), 5, 0.0, 2_125),
            (retry(Exponential, 1000, 20_000, 100), 99, 0.999, 19_997),
            (
                retry(Fibonacci, 3_600_000, 3_600_000, 100),
                99,
                0.5,
                3_330_000,
            ),
            (retry(Exponential, 1000, 0, 10), 2, 0.5, 0),
            // Out-of-contract jitter samples are clamped.
            (retry(Exponential, 1000, 30_000, 10), 1, 1.0, 1000),
            (retry(Exponential, 1000, 30_000, 10), 1, 7.0, 1000),
            (retry(Exponential, 1000, 30_000, 10), 1, -1.0, 850),
            (retry(Exponential, 1000, 30_000, 10), 1, f64::NAN, 850),
            // attempts 0 is treated as 1.
            (retry(Exponential, 1000, 30_000, 10), 0, 0.0, 850),
        ];
        for (cfg, attempts, jitter, want) in cases {
            assert_eq!(
                delay(decide(&cfg, attempts, jitter)),
                want,
                "{cfg:?} attempts={attempts} jitter={jitter}"
            );
        }
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let cfg = retry(BackoffKind::Exponential, 1000, 30_000, 100);
        for attempts in 1..100 {
            let full = backoff_ms(cfg.backoff, cfg.backoff_base_ms, attempts).min(30_000);
            for jitter in [0.0, 0.1, 0.5, 0.9, 0.999] {
                let d = delay(decide(&cfg, attempts, jitter));
                assert!(
                    d <= full && d as f64 >= (0.85 * full as f64).floor(),
                    "{d} {full}"
                );
            }
        }
    }

    #[test]
    fn retry_after_is_used_exactly_and_capped() {
        let cfg = retry(BackoffKind::Exponential, 1000, 2000, 5);
        // (retry_after_ms, jitter, expected delay): no jitter, no max_backoff_ms cap.
        let cases = [
            (0, 0.0, 0),
            (1500, 0.0, 1500),
            (45_000, 0.5, 45_000),
            (MAX_RETRY_AFTER_MS, 0.0, MAX_RETRY_AFTER_MS),
            (MAX_RETRY_AFTER_MS + 1, 0.0, MAX_RETRY_AFTER_MS),
            (u64::MAX, 0.999, MAX_RETRY_AFTER_MS),
        ];
        for (ms, jitter, want) in cases {
            let d = decide_failure(&FailureInput {
                retry: &cfg,
                attempts: 2,
                retryable: true,
                retry_after_ms: Some(ms),
                jitter,
            });
            assert_eq!(d, FailureDecision::Retry { delay_ms: want }, "{ms}");
        }
    }

    #[test]
    fn permanent_failures() {
        let three = retry(BackoffKind::Exponential, 1000, 30_000, 3);
        let not_retryable = RetryConfig {
            retryable: false,
            max_attempts: 1,
            ..RetryConfig::default()
        };
        let not_retryable_many = RetryConfig {
            retryable: false,
            max_attempts: 5,
            ..RetryConfig::default()
        };
        // (config, attempts, handler says retryable, retry_after, expected reason)
        let cases = [
            (
                &three,
                1,
                false,
                None,
                "the handler reported a permanent failure",
            ),
            (
                &three,
                1,
                false,
                Some(10),
                "the handler reported a permanent failure",
            ),
            (
                &three,
                3,
                true,
                None,
                "attempt 3 of 3 failed; no attempts left",
            ),
            (
                &three,
                4,
                true,
                Some(10),
                "attempt 4 of 3 failed; no attempts left",
            ),
            (
                &not_retryable,
                1,
                true,
                None,
                "the step is not retryable (retry.retryable: false)",
            ),
            (
                &not_retryable_many,
                1,
                true,
                Some(10),
                "the step is not retryable (retry.retryable: false)",
            ),
        ];
        for (cfg, attempts, retryable, retry_after_ms, reason) in cases {
            let d = decide_failure(&FailureInput {
                retry: cfg,
                attempts,
                retryable,
                retry_after_ms,
                jitter: 0.5,
            });
            assert_eq!(
                d,
                FailureDecision::Permanent {
                    reason: reason.to_string()
                },
                "attempts={attempts} retryable={retryable}"
            );
        }
        // One attempt left → still retried.
        assert!(matches!(
            decide(&three, 2, 0.0),
            FailureDecision::Retry { delay_ms: 1700 }
        ));
    }
}
