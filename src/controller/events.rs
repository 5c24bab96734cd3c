//! The events consumer: long-polls each events queue, maps every CloudTrail event to the key of
//! the manifest that owns the function, and enqueues that key ahead of the resync. Only keys
//! move: the reconcile that follows reads the world as always.

use std::sync::Arc;
use std::time::Duration;

use super::queue::Queue;
use super::Ctx;
use crate::aws::sqs::EventQueue;
use crate::trail::{self, Touched};
use crate::types::FunctionKey;

/// What became of one message (the `result` label of `lambda_reconciler_events_total`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed {
    /// A managed function changed: its key went to the front of the queue.
    Enqueued(FunctionKey),
    /// The daemon's own call.
    Own,
    /// No manifest manages the function.
    Unmanaged,
    /// Not a change to look at (`trail::Ignored::label`).
    Ignored(&'static str),
}

impl Routed {
    fn label(&self) -> &'static str {
        match self {
            Routed::Enqueued(_) => "enqueued",
            Routed::Own => "own",
            Routed::Unmanaged => "unmanaged",
            Routed::Ignored(l) => l,
        }
    }
}

/// Who the controller is, to tell its own calls and its functions' accounts.
#[derive(Debug, Clone, Default)]
pub struct Own {
    /// The account of the controller's own credentials (keys without a role are in it).
    pub account: String,
    /// The identity ARN of the controller's own credentials.
    pub arn: String,
}

impl Own {
    /// Whether `caller` (a CloudTrail `userIdentity.arn`) is this process: its own identity, or
    /// this process's session (`aws::session_name`) of one of `roles`.
    pub fn is(&self, caller: &str, roles: &std::collections::BTreeSet<String>) -> bool {
        if self.arn == caller {
            return true;
        }
        // arn:PARTITION:sts::ACCOUNT:assumed-role/NAME/SESSION
        let parts: Vec<&str> = caller.splitn(6, ':').collect();
        let [_, _, "sts", "", account, resource] = parts.as_slice() else { return false };
        let mut r = resource.split('/');
        let (Some("assumed-role"), Some(name), Some(session)) = (r.next(), r.next(), r.next()) else { return false };
        session == crate::aws::session_name()
            && roles
                .iter()
                .any(|role| role.split(':').nth(4) == Some(*account) && role.rsplit('/').next() == Some(name))
    }
}

/// Reads `source` until the process stops. Events of the controller's own calls are dropped.
/// Every message is deleted once handled (enqueued, or found irrelevant or malformed):
/// level-triggered reconciles make a lost duplicate or a reordered pair harmless.
/// Returns when `role_now` names another role than the one `source` reads with (a reload changed
/// the manifests), so the caller reads again with the right credentials.
pub async fn consume(
    ctx: Arc<Ctx>,
    queue: Arc<Queue<FunctionKey>>,
    source: EventQueue,
    own: &Own,
    role: Option<String>,
    role_now: impl Fn() -> Option<String>,
) {
    let mut failures = 0u32;
    while role_now() == role {
        let messages = match source.receive(Duration::from_secs(20)).await {
            Ok(m) => {
                failures = 0;
                m
            }
            Err(e) => {
                failures += 1;
                let wait = ctx.aws.caller.retry.backoff(failures.min(8)).max(Duration::from_secs(1));
                tracing::warn!(queue = %source.url, error = %e, wait_ms = wait.as_millis() as u64, "reading the events queue failed; the resync still catches drift");
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        let mut handled = Vec::with_capacity(messages.len());
        for m in messages {
            let routed = route(&ctx, &queue, &m.body, own);
            ctx.metrics.event(routed.label());
            handled.push(m.receipt);
        }
        if handled.is_empty() {
            continue;
        }
        match source.delete(&handled).await {
            Ok(failed) if !failed.is_empty() => {
                tracing::debug!(queue = %source.url, failed = failed.len(), "some events were not deleted; they come back and are handled again")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(queue = %source.url, error = %e, "deleting handled events failed; they come back and are handled again")
            }
        }
    }
}

/// Handles one message body: parse, drop our own calls, find the manifest, enqueue.
pub fn route(ctx: &Ctx, queue: &Queue<FunctionKey>, body: &str, own: &Own) -> Routed {
    let touched = match trail::parse(body) {
        Ok(t) => t,
        Err(why) => {
            let level_debug = why.label() == "not_relevant" || why.label() == "failed_call";
            if level_debug {
                tracing::debug!(reason = %why, "event ignored");
            } else {
                tracing::warn!(reason = %why, "malformed event deleted");
            }
            return Routed::Ignored(why.label());
        }
    };
    let (keys, roles) = {
        let store = ctx.store.read().unwrap();
        (store.find(&touched.region, &touched.function), store.roles())
    };
    if touched.caller.as_deref().is_some_and(|c| own.is(c, &roles)) {
        return Routed::Own;
    }
    // The function of the event's account: through a role in that account, or the controller's own.
    let key = keys.into_iter().find(|k| k.account().unwrap_or(&own.account) == touched.account);
    let Some(key) = key else {
        tracing::debug!(function = %touched.function, region = %touched.region, account = %touched.account, call = %touched.call, "event for a function no manifest manages");
        return Routed::Unmanaged;
    };
    enqueue(ctx, queue, &touched, key)
}

fn enqueue(ctx: &Ctx, queue: &Queue<FunctionKey>, touched: &Touched, key: FunctionKey) -> Routed {
    if touched.scaling {
        ctx.aws.clients(key.role.as_deref(), &key.region).scaling.changed_elsewhere(&key.name);
    }
    tracing::info!(function = %key, call = %touched.call, caller = touched.caller.as_deref().unwrap_or("unknown"), "change seen through CloudTrail; reconciling ahead of the resync");
    {
        let mut keys = ctx.keys.lock().unwrap();
        let changes = &mut keys.entry(key.clone()).or_default().changes;
        changes.push_back(touched.by.clone());
        while changes.len() > super::decide::MAX_CHANGES {
            changes.pop_front();
        }
    }
    queue.add_first(key.clone());
    Routed::Enqueued(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_controller_is_its_identity_or_this_processs_session_of_a_manifests_role() {
        let own =
            Own { account: "111122223333".into(), arn: "arn:aws:sts::111122223333:assumed-role/ctl/task-1".into() };
        let roles = std::collections::BTreeSet::from(["arn:aws:iam::444455556666:role/ops/lr-target".to_string()]);
        let session = crate::aws::session_name();
        assert!(session.starts_with("lambda-reconciler-") && session.len() == 26, "{session}");
        assert!(own.is("arn:aws:sts::111122223333:assumed-role/ctl/task-1", &roles));
        assert!(own.is(&format!("arn:aws:sts::444455556666:assumed-role/lr-target/{session}"), &roles));
        assert!(!own.is("arn:aws:sts::444455556666:assumed-role/lr-target/alice", &roles), "another session");
        let replica = if session.ends_with('0') { "lambda-reconciler-ffffffff" } else { "lambda-reconciler-00000000" };
        let other = format!("arn:aws:sts::444455556666:assumed-role/lr-target/{replica}");
        assert!(!own.is(&other, &roles), "another replica or a CI apply with the same role");
        let elsewhere = format!("arn:aws:sts::777788889999:assumed-role/lr-target/{session}");
        assert!(!own.is(&elsewhere, &roles), "another account");
        assert!(!own.is("arn:aws:iam::111122223333:user/alice", &roles));
        assert!(!own.is("arn:aws:sts::111122223333:assumed-role/ctl/task-2", &roles), "another task of the role");
    }
}
