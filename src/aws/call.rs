//! Every outbound AWS call: the global rate limiter, retry with jittered exponential backoff,
//! error classification, and per-operation call counters.

use std::collections::BTreeMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// How an AWS error should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The resource does not exist.
    NotFound,
    /// Throttling (429 / *Throttl* / TooManyRequests): retried.
    Throttled,
    /// 5xx or a network failure: retried.
    Transient,
    /// 409 ResourceConflictException (an update is in progress): retried.
    Conflict,
    /// The request is invalid or forbidden: not retried.
    Terminal,
}

/// A failed AWS call, narrowed to what the rest of the program needs.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}: {code}: {message}")]
pub struct AwsError {
    pub operation: &'static str,
    pub code: String,
    pub message: String,
    pub status: Option<u16>,
    pub class: ErrorClass,
}

impl AwsError {
    pub fn is_not_found(&self) -> bool {
        self.class == ErrorClass::NotFound
    }
    fn retryable(&self) -> bool {
        matches!(self.class, ErrorClass::Throttled | ErrorClass::Transient | ErrorClass::Conflict)
    }
}

const THROTTLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
];
const NOT_FOUND_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "ObjectNotFoundException",
    "ParameterNotFound",
    "ProvisionedConcurrencyConfigNotFoundException",
];

fn classify<E: ProvideErrorMetadata>(operation: &'static str, err: &SdkError<E, HttpResponse>) -> AwsError {
    let status = err.raw_response().map(|r| r.status().as_u16());
    let (code, message) = match err {
        SdkError::ServiceError(_) => {
            (err.code().unwrap_or("Unknown").to_string(), err.message().unwrap_or("").to_string())
        }
        SdkError::TimeoutError(_) => ("Timeout".to_string(), "request timed out".to_string()),
        SdkError::DispatchFailure(e) => ("DispatchFailure".to_string(), format!("{e:?}")),
        SdkError::ResponseError(_) => ("ResponseError".to_string(), "unparseable response".to_string()),
        _ => ("ConstructionFailure".to_string(), "request could not be built".to_string()),
    };
    let class = if THROTTLE_CODES.contains(&code.as_str()) || status == Some(429) {
        ErrorClass::Throttled
    } else if NOT_FOUND_CODES.contains(&code.as_str()) {
        ErrorClass::NotFound
    } else if code == "ResourceConflictException" || status == Some(409) {
        ErrorClass::Conflict
    } else if status.is_some_and(|s| s >= 500)
        || matches!(code.as_str(), "Timeout" | "DispatchFailure" | "ResponseError")
    {
        ErrorClass::Transient
    } else {
        ErrorClass::Terminal
    };
    AwsError { operation, code, message, status, class }
}

/// Retry policy for retryable errors.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 8, base: Duration::from_millis(100), cap: Duration::from_secs(10) }
    }
}

impl RetryPolicy {
    /// Full-jitter exponential backoff: uniform in [0, min(cap, base * 2^attempt)].
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self.base.saturating_mul(1u32 << attempt.min(16)).min(self.cap);
        ceiling.mul_f64(fastrand::f64())
    }
}

/// Observer of every call: (`service:operation`, outcome).
pub type CallHook = Box<dyn Fn(&'static str, &str) + Send + Sync>;

/// Calls made, by `service:operation` and outcome.
#[derive(Default)]
pub struct CallStats {
    counts: Mutex<BTreeMap<(String, &'static str), u64>>,
    hook: std::sync::OnceLock<CallHook>,
}

impl std::fmt::Debug for CallStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallStats").field("counts", &self.counts).finish_non_exhaustive()
    }
}

impl CallStats {
    fn record(&self, op: &'static str, outcome: &str) {
        *self.counts.lock().unwrap().entry((outcome.to_string(), op)).or_default() += 1;
        if let Some(h) = self.hook.get() {
            h(op, outcome);
        }
    }

    /// Installs the observer (metrics); only the first call takes effect.
    pub fn set_hook(&self, hook: CallHook) {
        let _ = self.hook.set(hook);
    }
    /// (operation, outcome) → count.
    pub fn snapshot(&self) -> BTreeMap<(String, &'static str), u64> {
        self.counts.lock().unwrap().clone()
    }
}

pub fn is_read(op: &str) -> bool {
    let name = op.rsplit(':').next().unwrap_or(op);
    ["Get", "List", "Describe"].iter().any(|p| name.starts_with(p))
}

/// Shared by every service client: one limiter for the whole process.
#[derive(Clone)]
pub struct Caller {
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
    pub retry: RetryPolicy,
    pub stats: Arc<CallStats>,
    /// Urgent work (a manifest change) goes first at the limiter.
    pub gate: Arc<super::priority::Gate>,
}

impl Caller {
    /// `rps == 0` disables the limiter.
    pub fn new(rps: u32, retry: RetryPolicy) -> Self {
        let limiter = NonZeroU32::new(rps).map(|n| Arc::new(RateLimiter::direct(Quota::per_second(n))));
        Caller { limiter, retry, stats: Arc::default(), gate: Arc::default() }
    }

    /// Runs `f` through the limiter, retrying throttling, 5xx, network errors and conflicts.
    pub async fn call<T, E, F, Fut>(&self, op: &'static str, f: F) -> Result<T, AwsError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata,
    {
        let mut attempt = 0;
        loop {
            if let Some(l) = &self.limiter {
                self.gate.permit(l).await;
            }
            let result = f().await;
            if !is_read(op) {
                self.gate.wrote();
            }
            let err = match result {
                Ok(v) => {
                    self.stats.record(op, "ok");
                    return Ok(v);
                }
                Err(e) => classify(op, &e),
            };
            self.stats.record(op, &format!("{:?}", err.class).to_lowercase());
            attempt += 1;
            if !err.retryable() || attempt >= self.retry.max_attempts {
                return Err(err);
            }
            let wait = self.retry.backoff(attempt);
            tracing::debug!(operation = op, code = %err.code, attempt, wait_ms = wait.as_millis() as u64, "retrying AWS call");
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_never_exceeds_the_cap_and_grows_with_attempts() {
        let p = RetryPolicy { max_attempts: 5, base: Duration::from_millis(100), cap: Duration::from_secs(1) };
        for attempt in 0..30 {
            assert!(p.backoff(attempt) <= Duration::from_secs(1));
        }
        let max_early = (0..200).map(|_| p.backoff(1)).max().unwrap();
        assert!(max_early <= Duration::from_millis(200));
    }

    #[test]
    fn read_operations_are_recognised_by_prefix() {
        assert!(is_read("lambda:GetFunction"));
        assert!(is_read("autoscaling:DescribeScalableTargets"));
        assert!(!is_read("lambda:PutFunctionConcurrency"));
    }
}
