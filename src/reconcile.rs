//! One function: desired → observed → plan → apply, and the error policy for each failure.

use std::time::Duration;

use crate::apply::{self, ApplyError, Waits};
use crate::aws::{AwsError, ErrorClass, RegionClients};
use crate::desired::Desired;
use crate::observed;
use crate::plan::{self, FunctionPlan};
use crate::types::{AppliedGeneration, FunctionState};

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("reading live state: {0}")]
    Observe(#[source] AwsError),
    #[error("applying: {0}")]
    Apply(#[source] ApplyError),
    #[error("still not converged after {0} passes")]
    NotConverged(usize),
    #[error("cannot read the function's tags, so drift cannot be told from a manifest change (allow lambda:ListTags, see manifests/deploy/iam/policy.json): {0}")]
    TagsUnreadable(String),
}

/// What the caller should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorPolicy {
    /// Throttling, 5xx, network: retry soon with backoff.
    Transient,
    /// Conflicts, waits that timed out, provisioning in flight: retry after a delay.
    RetryLater(Duration),
    /// Invalid request, permissions, missing resource, FAILED provisioning: alert, don't hammer.
    Terminal,
}

fn aws_policy(e: &AwsError) -> ErrorPolicy {
    match e.class {
        ErrorClass::Throttled | ErrorClass::Transient | ErrorClass::Unreachable => ErrorPolicy::Transient,
        ErrorClass::Conflict => ErrorPolicy::RetryLater(Duration::from_secs(5)),
        ErrorClass::Propagating => ErrorPolicy::RetryLater(Duration::from_secs(15)),
        ErrorClass::NotFound | ErrorClass::Terminal => ErrorPolicy::Terminal,
    }
}

impl ReconcileError {
    pub fn policy(&self) -> ErrorPolicy {
        match self {
            ReconcileError::Observe(e) | ReconcileError::Apply(ApplyError::Aws(e)) => aws_policy(e),
            ReconcileError::Apply(ApplyError::Timeout { .. }) | ReconcileError::NotConverged(_) => {
                ErrorPolicy::RetryLater(Duration::from_secs(30))
            }
            ReconcileError::Apply(ApplyError::FunctionGone) => ErrorPolicy::RetryLater(Duration::from_secs(30)),
            ReconcileError::Apply(ApplyError::ProvisionedFailed { .. }) | ReconcileError::TagsUnreadable(_) => {
                ErrorPolicy::Terminal
            }
        }
    }

    /// The AWS error code, when AWS refused.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            ReconcileError::Observe(e) | ReconcileError::Apply(ApplyError::Aws(e)) => Some(&e.code),
            _ => None,
        }
    }
}

/// Reads the live state and plans, without writing.
pub async fn plan_one(c: &RegionClients, d: &Desired) -> Result<FunctionPlan, ReconcileError> {
    let o = observed::read(c, d).await.map_err(ReconcileError::Observe)?;
    Ok(plan::plan(d, &o))
}

/// The result of applying one function.
#[derive(Debug)]
pub struct Applied {
    /// The plan before the first write (what was changed).
    pub initial: FunctionPlan,
    /// The plan after the last pass (empty when converged).
    pub last: FunctionPlan,
    pub writes: usize,
}

/// Reads the live state and plans; also returns the generation recorded on the function.
pub async fn observe_and_plan(
    c: &RegionClients,
    d: &Desired,
) -> Result<(FunctionPlan, Option<FunctionState>), ReconcileError> {
    let o = observed::read(c, d).await.map_err(ReconcileError::Observe)?;
    Ok((plan::plan(d, &o), o.function))
}

/// Applies `initial` and re-plans until nothing differs (at most `passes` applies), then records
/// the manifest generation on the function when it converged.
pub async fn converge(
    c: &RegionClients,
    d: &Desired,
    initial: FunctionPlan,
    function: Option<FunctionState>,
    w: Waits,
    passes: usize,
) -> Result<Applied, ReconcileError> {
    let mut last = initial.clone();
    let mut writes = 0;
    let mut function = function;
    for _ in 0..passes {
        if last.error.is_some() || last.changes.is_empty() {
            break;
        }
        writes += apply::apply(c, &d.function_ref, &last, w).await.map_err(ReconcileError::Apply)?;
        (last, function) = observe_and_plan(c, d).await?;
    }
    if !last.changes.is_empty() && last.error.is_none() {
        return Err(ReconcileError::NotConverged(passes));
    }
    let Some(f) = function.filter(|f| last.in_sync() && !f.applied_generation.is(&d.generation)) else {
        return Ok(Applied { initial, last, writes });
    };
    if let AppliedGeneration::Unreadable(reason) = f.applied_generation {
        return Err(ReconcileError::TagsUnreadable(reason));
    }
    c.lambda.tag_generation(&f.arn, &d.generation).await.map_err(|e| ReconcileError::Apply(e.into()))?;
    writes += 1;
    Ok(Applied { initial, last, writes })
}

/// Plans and applies until the plan is empty (at most `passes` applies).
pub async fn apply_one(c: &RegionClients, d: &Desired, w: Waits, passes: usize) -> Result<Applied, ReconcileError> {
    let (initial, function) = observe_and_plan(c, d).await?;
    converge(c, d, initial, function, w, passes).await
}
