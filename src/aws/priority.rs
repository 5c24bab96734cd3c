//! Urgent work ahead of resyncs at the shared rate limiter: while a manifest change has not yet
//! issued its first write, other callers hold back (for a bounded time) before taking a permit.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// The longest a normal call waits for urgent work: resyncs are delayed, never starved (an urgent
/// reconcile can wait minutes for a function update before its first write).
pub const MAX_HOLD: Duration = Duration::from_secs(2);

tokio::task_local! {
    static URGENT: Arc<Token>;
}

/// How many urgent scopes have not written yet.
#[derive(Default)]
pub struct Gate {
    urgent: AtomicUsize,
    clear: Notify,
}

/// One urgent scope; `open` until its first write or its end.
pub struct Token {
    gate: Arc<Gate>,
    open: AtomicBool,
}

impl Token {
    /// Ends the urgency (idempotent).
    fn finish(&self) {
        if self.open.swap(false, Ordering::SeqCst) && self.gate.urgent.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.gate.clear.notify_waiters();
        }
    }
}

/// Ends the scope's urgency however the scope ends (also when its future is dropped).
struct Finish(Arc<Token>);

impl Drop for Finish {
    fn drop(&mut self) {
        self.0.finish();
    }
}

impl Gate {
    /// Runs `f` as urgent work.
    pub async fn urgent<F: Future>(self: &Arc<Self>, f: F) -> F::Output {
        self.urgent.fetch_add(1, Ordering::SeqCst);
        let token = Arc::new(Token { gate: self.clone(), open: AtomicBool::new(true) });
        let _finish = Finish(token.clone());
        URGENT.scope(token, f).await
    }

    /// Before taking a permit: urgent callers go on; others wait (at most `MAX_HOLD`) while any
    /// urgent scope has not written yet.
    pub async fn before_call(&self) {
        if URGENT.try_with(|t| t.open.load(Ordering::SeqCst)).unwrap_or(false) {
            return;
        }
        let _ = tokio::time::timeout(MAX_HOLD, async {
            loop {
                let cleared = self.clear.notified();
                if self.urgent.load(Ordering::SeqCst) == 0 {
                    return;
                }
                cleared.await;
            }
        })
        .await;
    }

    /// After a write was sent: the current urgent scope (if any) is no longer urgent.
    pub fn wrote(&self) {
        let _ = URGENT.try_with(|t| t.finish());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn normal_calls_wait_for_urgent_work_until_its_first_write() {
        let gate = Arc::new(Gate::default());
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        let g = gate.clone();
        let urgent = tokio::spawn(async move {
            g.clone()
                .urgent(async move {
                    g.before_call().await; // an urgent call does not wait
                    wait.await.unwrap();
                    g.wrote();
                    std::future::pending::<()>().await; // still running, no longer urgent
                })
                .await
        });
        tokio::task::yield_now().await;
        let g = gate.clone();
        let normal = tokio::spawn(async move { g.before_call().await });
        tokio::time::sleep(MAX_HOLD / 2).await;
        assert!(!normal.is_finished(), "held while urgent work has not written");
        go.send(()).unwrap();
        normal.await.unwrap();
        urgent.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn normal_calls_are_held_at_most_max_hold_and_a_dropped_scope_releases_the_gate() {
        let gate = Arc::new(Gate::default());
        let g = gate.clone();
        let stuck = tokio::spawn(async move { g.urgent(std::future::pending::<()>()).await });
        tokio::task::yield_now().await;
        let started = tokio::time::Instant::now();
        gate.before_call().await;
        assert_eq!(started.elapsed(), MAX_HOLD, "held for the bound, not forever");
        stuck.abort();
        let _ = stuck.await;
        let started = tokio::time::Instant::now();
        gate.before_call().await;
        assert_eq!(started.elapsed(), Duration::ZERO, "an aborted urgent scope no longer holds anyone");
    }
}
