//! Executing the writes of code signing, runtime management, recursion and user tags: each
//! after `$LATEST` is idle, as Lambda answers 409 to any of them while an update is in progress.

use super::{wait_function_idle, ApplyError, Waits};
use crate::aws::RegionClients;
use crate::plan::configs::ConfigAction;

pub(super) async fn execute(c: &RegionClients, f: &str, a: &ConfigAction, w: Waits) -> Result<(), ApplyError> {
    let now = wait_function_idle(c, f, w).await?;
    let l = &c.lambda;
    match a {
        ConfigAction::PutCodeSigning { arn } => l.put_code_signing(f, arn).await?,
        ConfigAction::DeleteCodeSigning => l.delete_code_signing(f).await?,
        ConfigAction::PutRuntimeManagement(r) => l.put_runtime_management(f, r).await?,
        ConfigAction::PutRecursion(r) => l.put_recursion(f, r).await?,
        // Tags go on the function's unqualified ARN.
        ConfigAction::TagUser(tags) => l.tag_user(&now.arn, tags).await?,
        ConfigAction::UntagUser(keys) => l.untag_user(&now.arn, keys).await?,
    }
    tracing::info!(function = f, operation = a.operation(), "applied");
    Ok(())
}
