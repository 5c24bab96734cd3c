//! Every outbound AWS call: the global rate limiter, retry with jittered exponential backoff,
//! error classification, and per-operation call counters.

use std::collections::BTreeMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// How an AWS error should be handled: the one classification, made here, of every failed call.
/// The retryable classes are retried inside the call (see [`RetryPolicy`]); what is left when the
/// attempts run out is handled by the reconcile's error policy (`reconcile::ErrorPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The resource does not exist.
    NotFound,
    /// Throttling (429 / *Throttl* / TooManyRequests / "Rate exceeded"): retried.
    Throttled,
    /// 5xx: retried.
    Transient,
    /// No answer (connection refused or reset, timeout): retried; the daemon reports AWS
    /// unreachable once per outage.
    Unreachable,
    /// 409 ResourceConflictException (an update is in progress), ConcurrentUpdateException:
    /// retried.
    Conflict,
    /// AWS has not caught up with a write it accepted (eventual consistency): the scalable target
    /// just registered (ObjectNotFoundException on a Put), a destination or role just created
    /// (InvalidParameterValueException naming it). Retried.
    Propagating,
    /// The resource changed since it was read (412 PreconditionFailedException on a RevisionId,
    /// a CodeSha256 that no longer matches): the same request can never succeed, so it is not
    /// retried; the reconcile reads again and plans anew.
    Stale,
    /// The request is invalid or forbidden, or STS refused the role (`CredentialsError`): not
    /// retried. (Credentials that could not be had for now, `CredentialsUnavailable`: transient.)
    Terminal,
    /// A write withheld by this process: it does not hold the lease (another replica is the
    /// writer). Not sent, not retried, not alerted: the reconcile stops and the leader owns it.
    Fenced,
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
    /// This error, with AWS's message withheld when it quotes any of `sent` (secret values of
    /// the request, of any length): the message is dropped whole, never cut around a value.
    pub fn withholding(mut self, sent: &[&str]) -> Self {
        let escaped = |s: &str| serde_json::to_string(s).map(|q| q[1..q.len() - 1].to_string()).unwrap_or_default();
        if sent.iter().any(|s| !s.is_empty() && (self.message.contains(s) || self.message.contains(&escaped(s)))) {
            self.message = "(AWS's message withheld: it quotes a secret value of the request)".into();
        }
        self
    }

    /// A write this process withheld because it does not hold the lease.
    pub fn fenced(operation: &'static str) -> Self {
        AwsError {
            operation,
            code: "LeaseNotHeld".into(),
            message: "write withheld: this replica does not hold the lease".into(),
            status: None,
            class: ErrorClass::Fenced,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.class == ErrorClass::NotFound
    }
    pub fn retryable(&self) -> bool {
        !matches!(self.class, ErrorClass::NotFound | ErrorClass::Terminal | ErrorClass::Stale | ErrorClass::Fenced)
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
    // DynamoDB (the lease table): "Your request rate is too high."
    "ProvisionedThroughputExceededException",
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
        SdkError::DispatchFailure(e) => {
            // A role that cannot be assumed fails every call at signing: not an outage.
            match e.as_connector_error().and_then(|c| super::roles::credentials_failure(c)) {
                Some((true, why)) => ("CredentialsError".to_string(), why),
                Some((false, why)) => ("CredentialsUnavailable".to_string(), why),
                None => ("DispatchFailure".to_string(), format!("{e:?}")),
            }
        }
        SdkError::ResponseError(_) => ("ResponseError".to_string(), "unparseable response".to_string()),
        _ => ("ConstructionFailure".to_string(), "request could not be built".to_string()),
    };
    let class = class_of(operation, &code, &message, status);
    AwsError { operation, code, message, status, class }
}

/// Lambda's InvalidParameterValueException messages while a just-created role or destination
/// propagates (AWS does not document them; seen in the field and retried by terraform-provider-aws).
const PROPAGATING_MESSAGES: &[&str] =
    &["The destination ARN", "does not have permissions to call", "cannot be assumed by Lambda"];

/// The class of an error from `operation` (`service:Operation`).
pub fn class_of(operation: &str, code: &str, message: &str, status: Option<u16>) -> ErrorClass {
    let put = operation.rsplit(':').next().is_some_and(|op| op.starts_with("Put"));
    if THROTTLE_CODES.contains(&code) || status == Some(429) {
        ErrorClass::Throttled
    } else if code == "FailedResourceAccessException" && message.contains("Rate exceeded") {
        // Application Auto Scaling reading the policy's CloudWatch alarms was throttled.
        ErrorClass::Throttled
    } else if code == "ObjectNotFoundException" && put {
        // AWS (RegisterScalableTarget): "there might be a brief delay until the operation achieves
        // eventual consistency ... The typical strategy is to retry the request".
        ErrorClass::Propagating
    } else if code == "InvalidParameterValueException" && PROPAGATING_MESSAGES.iter().any(|m| message.contains(m)) {
        ErrorClass::Propagating
    } else if code == "PreconditionFailedException" || status == Some(412) {
        // AWS: "The RevisionId provided does not match the latest RevisionId for the Lambda
        // function or alias. Call the GetFunction or the GetAlias API operation to retrieve the
        // latest RevisionId for your resource."
        ErrorClass::Stale
    } else if code == "InvalidParameterValueException" && message.contains("CodeSHA256") {
        // PublishVersion's CodeSha256 no longer matches $LATEST's code.
        ErrorClass::Stale
    } else if NOT_FOUND_CODES.contains(&code) {
        ErrorClass::NotFound
    } else if matches!(code, "ResourceConflictException" | "ConcurrentUpdateException" | "ResourceInUseException")
        || status == Some(409)
    {
        // ResourceInUseException: an event source mapping is Creating, Updating or Deleting.
        ErrorClass::Conflict
    } else if matches!(code, "Timeout" | "DispatchFailure") {
        ErrorClass::Unreachable
    } else if status.is_some_and(|s| s >= 500) || code == "ResponseError" || code == "CredentialsUnavailable" {
        ErrorClass::Transient
    } else {
        ErrorClass::Terminal
    }
}

/// Retry policy for retryable errors: the only retries of a call (the SDK's own are off, so every
/// attempt passes the rate limiter). With the default, a call gets 8 attempts; the waits between
/// them are drawn from [0, 0.1 s], [0, 0.2 s] … [0, 6.4 s] (full jitter), at most 12.7 s in all
/// (6.35 s expected). What still fails is left to the reconcile's error policy.
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
    /// The longest wait before retry `attempt` (1-based): min(cap, base * 2^(attempt - 1)).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        self.base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16)).min(self.cap)
    }

    /// Full-jitter exponential backoff: uniform in [0, ceiling(attempt)].
    pub fn backoff(&self, attempt: u32) -> Duration {
        self.ceiling(attempt).mul_f64(fastrand::f64())
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
    /// The write calls AWS accepted: Lambda's and Application Auto Scaling's operations other
    /// than reads and Invoke (a hook run changes no configuration).
    pub fn writes_made(&self) -> u64 {
        let counts = self.counts.lock().unwrap();
        let write = |op: &str| {
            (op.starts_with("lambda:") || op.starts_with("autoscaling:")) && !is_read(op) && op != crate::types::INVOKE
        };
        counts.iter().filter(|((outcome, op), _)| outcome == "ok" && write(op)).map(|(_, n)| n).sum()
    }

    /// (operation, outcome) → count.
    pub fn snapshot(&self) -> BTreeMap<(String, &'static str), u64> {
        self.counts.lock().unwrap().clone()
    }
}

pub fn is_read(op: &str) -> bool {
    let name = op.rsplit(':').next().unwrap_or(op);
    ["Get", "List", "Describe", "BatchGet"].iter().any(|p| name.starts_with(p))
}

/// Shared by the service clients of one account-region: one limiter for them.
#[derive(Clone)]
pub struct Caller {
    rps: u32,
    limiter: Option<Arc<super::bucket::Bucket>>,
    pub retry: RetryPolicy,
    pub stats: Arc<CallStats>,
    /// Urgent work (a manifest change) goes first at the limiter.
    pub gate: Arc<super::priority::Gate>,
    /// Whether this process may write now (the lease); checked before each write is sent.
    pub fence: super::fence::Fence,
    /// Whether shared work (a region snapshot refresh that every function waits on) runs as
    /// urgent work: the caller of this layer decides (the daemon does, to avoid priority
    /// inversion); this layer only says which work is shared.
    shared_urgent: Arc<std::sync::atomic::AtomicBool>,
}

impl Caller {
    /// `rps == 0` disables the limiter.
    pub fn new(rps: u32, retry: RetryPolicy) -> Self {
        let limiter = NonZeroU32::new(rps).map(|n| Arc::new(super::bucket::Bucket::per_second(n)));
        Caller {
            rps,
            limiter,
            retry,
            stats: Arc::default(),
            gate: Arc::default(),
            fence: super::fence::Fence::open(),
            shared_urgent: Arc::default(),
        }
    }

    /// A caller with a limiter (and urgency gate) of its own at the same rate, sharing the
    /// counters and the urgency choice: one per account-region, since Lambda's quotas are.
    pub fn sibling(&self) -> Self {
        Caller {
            stats: self.stats.clone(),
            shared_urgent: self.shared_urgent.clone(),
            ..Caller::new(self.rps, self.retry)
        }
    }

    /// Makes shared work urgent (see [`Caller::shared`]); set by the daemon at start.
    pub fn run_shared_work_urgently(&self, urgent: bool) {
        self.shared_urgent.store(urgent, std::sync::atomic::Ordering::Relaxed);
    }

    /// Runs `f`, work that other callers wait on, with the urgency its caller chose. Boxed: a
    /// region refresh is a large future, kept off the reconcile's stack.
    pub fn shared<'a, F>(&'a self, f: F) -> Pin<Box<dyn Future<Output = F::Output> + Send + 'a>>
    where
        F: Future + Send + 'a,
    {
        if self.shared_urgent.load(std::sync::atomic::Ordering::Relaxed) {
            Box::pin(self.gate.shared(f))
        } else {
            Box::pin(f)
        }
    }

    /// Runs `f` through the limiter, retrying throttling, 5xx, network errors and conflicts.
    pub async fn call<T, E, F, Fut>(&self, op: &'static str, f: F) -> Result<T, AwsError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata,
    {
        self.call_retrying(op, AwsError::retryable, true, f).await
    }

    /// [`Caller::call`] for a data-plane call outside Lambda's control-plane quotas (reading the
    /// events queue): counted and retried, but not held at the limiter, so a resync that fills
    /// the limiter cannot delay the news of a change.
    pub async fn call_unlimited<T, E, F, Fut>(&self, op: &'static str, f: F) -> Result<T, AwsError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata,
    {
        self.call_retrying(op, AwsError::retryable, false, f).await
    }

    /// [`Caller::call`] for a request that must not run twice (a hook's Invoke): retried only
    /// when AWS throttled it, i.e. refused it before it ran.
    pub async fn call_once<T, E, F, Fut>(&self, op: &'static str, f: F) -> Result<T, AwsError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata,
    {
        self.call_retrying(op, |e| e.class == ErrorClass::Throttled, true, f).await
    }

    async fn call_retrying<T, E, F, Fut>(
        &self,
        op: &'static str,
        retryable: fn(&AwsError) -> bool,
        limited: bool,
        f: F,
    ) -> Result<T, AwsError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata,
    {
        let mut attempt = 0;
        loop {
            if let Some(l) = self.limiter.as_ref().filter(|_| limited) {
                self.gate.permit(l).await;
            }
            let write = !is_read(op);
            if write && !self.fence.may_write() {
                self.stats.record(op, "fenced");
                return Err(AwsError::fenced(op));
            }
            let result = f().await;
            if write && result.is_err() && !self.fence.may_write() {
                // Withheld by the fence's interceptor (the lease ran out while this call waited
                // for credentials or a connection): the leader owns this function now.
                self.stats.record(op, "fenced");
                return Err(AwsError::fenced(op));
            }
            if limited && write {
                self.gate.wrote(op);
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
            if !retryable(&err) || attempt >= self.retry.max_attempts {
                return Err(err);
            }
            let wait = self.retry.backoff(attempt);
            let class = format!("{:?}", err.class);
            tracing::debug!(operation = op, code = %err.code, class, attempt, wait_ms = wait.as_millis() as u64, "retrying AWS call");
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap_and_stays_within_its_ceiling() {
        let p = RetryPolicy { max_attempts: 5, base: Duration::from_millis(100), cap: Duration::from_secs(1) };
        let ms = |a| p.ceiling(a).as_millis();
        assert_eq!((1..=6).map(ms).collect::<Vec<_>>(), [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(ms(40), 1000, "no overflow for large attempts");
        for attempt in 1..30 {
            assert!(p.backoff(attempt) <= p.ceiling(attempt));
        }
        let d = RetryPolicy::default();
        let total: Duration = (1..d.max_attempts).map(|a| d.ceiling(a)).sum();
        assert_eq!(total, Duration::from_millis(12_700), "the budget the docs state");
    }

    #[test]
    fn errors_are_classified_once_by_code_message_and_operation() {
        let c = |op, code, msg, status| class_of(op, code, msg, status);
        assert_eq!(c("lambda:GetFunction", "TooManyRequestsException", "", Some(429)), ErrorClass::Throttled);
        let rate = "Rate exceeded";
        assert_eq!(
            c("autoscaling:PutScalingPolicy", "FailedResourceAccessException", rate, Some(400)),
            ErrorClass::Throttled
        );
        let denied = "not authorized to perform cloudwatch:DescribeAlarms";
        assert_eq!(
            c("autoscaling:PutScalingPolicy", "FailedResourceAccessException", denied, Some(400)),
            ErrorClass::Terminal
        );
        assert_eq!(
            c("autoscaling:PutScalingPolicy", "ObjectNotFoundException", "", Some(400)),
            ErrorClass::Propagating
        );
        assert_eq!(
            c("autoscaling:DeleteScalingPolicy", "ObjectNotFoundException", "", Some(400)),
            ErrorClass::NotFound
        );
        assert_eq!(c("lambda:PublishVersion", "PreconditionFailedException", "", Some(412)), ErrorClass::Stale);
        let sha = "CodeSHA256 (00) is different from current CodeSHA256 in $LATEST (ab).";
        assert_eq!(c("lambda:PublishVersion", "InvalidParameterValueException", sha, Some(400)), ErrorClass::Stale);
        let dest = "The destination ARN arn:aws:sqs:us-east-1:123456789012:q is invalid.";
        assert_eq!(
            c("lambda:PutFunctionEventInvokeConfig", "InvalidParameterValueException", dest, Some(400)),
            ErrorClass::Propagating
        );
        assert_eq!(
            c("lambda:UpdateAlias", "InvalidParameterValueException", "bad weight", Some(400)),
            ErrorClass::Terminal
        );
        assert_eq!(c("lambda:UpdateAlias", "ResourceConflictException", "", Some(409)), ErrorClass::Conflict);
        assert_eq!(
            c("autoscaling:RegisterScalableTarget", "ConcurrentUpdateException", "", Some(400)),
            ErrorClass::Conflict
        );
        assert_eq!(c("lambda:GetFunction", "DispatchFailure", "", None), ErrorClass::Unreachable);
        assert_eq!(c("lambda:GetFunction", "ServiceException", "", Some(500)), ErrorClass::Transient);
        assert_eq!(c("lambda:GetFunction", "AccessDeniedException", "", Some(403)), ErrorClass::Terminal);
        assert_eq!(
            c("lambda:GetFunction", "CredentialsError", "sts:AssumeRole on R failed", None),
            ErrorClass::Terminal
        );
    }

    #[test]
    fn read_operations_are_recognised_by_prefix() {
        assert!(is_read("lambda:GetFunction"));
        assert!(is_read("autoscaling:DescribeScalableTargets"));
        assert!(!is_read("lambda:PutFunctionConcurrency"));
    }
}
