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

/// Reads `source` until the process stops. `own` is the daemon's identity ARN: events of its own
/// calls are dropped. Every message is deleted once handled (enqueued, or found irrelevant or
/// malformed): level-triggered reconciles make a lost duplicate or a reordered pair harmless.
pub async fn consume(ctx: Arc<Ctx>, queue: Arc<Queue<FunctionKey>>, source: EventQueue, own: Option<String>) {
    let mut failures = 0u32;
    loop {
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
            let routed = route(&ctx, &queue, &m.body, own.as_deref());
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
pub fn route(ctx: &Ctx, queue: &Queue<FunctionKey>, body: &str, own: Option<&str>) -> Routed {
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
    if own.is_some() && touched.caller.as_deref() == own {
        return Routed::Own;
    }
    let key = FunctionKey { region: touched.region.clone(), name: touched.function.clone() };
    if ctx.store.read().unwrap().get(&key).is_none() {
        tracing::debug!(function = %key, call = %touched.call, "event for a function no manifest manages");
        return Routed::Unmanaged;
    }
    enqueue(ctx, queue, &touched, key)
}

fn enqueue(ctx: &Ctx, queue: &Queue<FunctionKey>, touched: &Touched, key: FunctionKey) -> Routed {
    if touched.scaling {
        ctx.aws.region(&key.region).scaling.changed_elsewhere(&key.name);
    }
    tracing::info!(function = %key, call = %touched.call, caller = touched.caller.as_deref().unwrap_or("unknown"), "change seen through CloudTrail; reconciling ahead of the resync");
    queue.add_first(key.clone());
    Routed::Enqueued(key)
}
