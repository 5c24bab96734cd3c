//! Urgent work ahead of resyncs at the shared rate limiter: permits are taken one caller at a
//! time, and while a manifest change has not yet issued its first write, other callers step
//! aside (for a bounded time) so its calls get the next permits.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use governor::DefaultDirectRateLimiter;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The longest a normal call waits for urgent work: resyncs are delayed, never starved (an urgent
/// reconcile can wait minutes for a function update before its first write).
pub const MAX_HOLD: Duration = Duration::from_secs(2);

tokio::task_local! {
    static URGENT: Arc<Token>;
}

/// How many urgent scopes have not written yet, and the turn to wait at the limiter.
#[derive(Default)]
pub struct Gate {
    urgent: AtomicUsize,
    clear: Notify,
    /// Urgent work began: a normal caller waiting for its permit with the turn gives it up.
    arrived: Notify,
    turn: tokio::sync::Mutex<()>,
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
        self.arrived.notify_waiters();
        let token = Arc::new(Token { gate: self.clone(), open: AtomicBool::new(true) });
        let _finish = Finish(token.clone());
        URGENT.scope(token, f).await
    }

    /// Takes a permit from `limiter`. Callers queue for it in turn (FIFO); an urgent caller goes
    /// ahead of the others, who step aside while urgent work is open, for at most `MAX_HOLD`
    /// (the one waiting with the turn when urgent work begins gives the turn up too).
    pub async fn permit(&self, limiter: &DefaultDirectRateLimiter) {
        let urgent = URGENT.try_with(|t| t.open.load(Ordering::SeqCst)).unwrap_or(false);
        let deadline = Instant::now() + MAX_HOLD;
        loop {
            if !urgent {
                self.wait_clear(deadline).await;
            }
            let _turn = self.turn.lock().await;
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if urgent || Instant::now() >= deadline {
                limiter.until_ready().await;
                return;
            }
            if self.urgent.load(Ordering::SeqCst) == 0 {
                // Waiting for a permit does not take one: giving the turn up costs nothing.
                tokio::select! {
                    biased;
                    _ = limiter.until_ready() => return,
                    _ = &mut arrived => {}
                }
            }
        }
    }

    /// Waits until no urgent scope is open, or `deadline`.
    async fn wait_clear(&self, deadline: Instant) {
        let _ = tokio::time::timeout_at(deadline, async {
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
    use std::num::NonZeroU32;
    use std::sync::Mutex;

    use governor::{Quota, RateLimiter};

    use super::*;

    fn limiter(per_second: u32) -> Arc<DefaultDirectRateLimiter> {
        let quota = Quota::per_second(NonZeroU32::new(per_second).unwrap()).allow_burst(NonZeroU32::new(1).unwrap());
        Arc::new(RateLimiter::direct(quota))
    }

    #[tokio::test]
    async fn urgent_calls_take_the_next_permits_ahead_of_busy_callers() {
        let (gate, limiter) = (Arc::new(Gate::default()), limiter(50));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut normal = Vec::new();
        for _ in 0..8 {
            let (g, l, o) = (gate.clone(), limiter.clone(), order.clone());
            normal.push(tokio::spawn(async move {
                for _ in 0..5 {
                    g.permit(&l).await;
                    o.lock().unwrap().push("normal");
                }
            }));
        }
        // Every normal caller has had a permit and is queued for its next: the urgent work
        // arrives behind a full queue (without the gate it would wait for all of them).
        while order.lock().unwrap().len() < 8 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let before = order.lock().unwrap().len();
        let (g, l, o) = (gate.clone(), limiter.clone(), order.clone());
        g.clone()
            .urgent(async move {
                for _ in 0..3 {
                    g.permit(&l).await;
                    o.lock().unwrap().push("urgent");
                }
            })
            .await;
        for n in normal {
            n.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        let last_urgent = order.iter().rposition(|x| *x == "urgent").unwrap();
        let others = order[before..last_urgent].iter().filter(|x| **x == "normal").count();
        assert!(others <= 1, "only the caller already holding the turn goes between: {order:?}");
        assert_eq!(order.iter().filter(|x| **x == "normal").count(), 40, "every normal call got its permits");
        assert!(
            order.len() - last_urgent > 30,
            "the urgent calls went while most normal calls still waited: {order:?}"
        );
    }

    #[tokio::test]
    async fn urgent_work_takes_the_next_permit_from_a_caller_already_waiting_with_the_turn() {
        let (gate, limiter) = (Arc::new(Gate::default()), limiter(10));
        gate.permit(&limiter).await; // the bucket is empty: the next permit is 100 ms away
        let order = Arc::new(Mutex::new(Vec::new()));
        let (g, l, o) = (gate.clone(), limiter.clone(), order.clone());
        let normal = tokio::spawn(async move {
            g.permit(&l).await;
            o.lock().unwrap().push("normal");
        });
        while gate.turn.try_lock().is_ok() {
            tokio::task::yield_now().await; // until the normal caller waits with the turn
        }
        let (g, l, o) = (gate.clone(), limiter.clone(), order.clone());
        g.clone()
            .urgent(async move {
                g.permit(&l).await;
                o.lock().unwrap().push("urgent");
                g.wrote();
            })
            .await;
        normal.await.unwrap();
        assert_eq!(*order.lock().unwrap(), ["urgent", "normal"]);
    }

    #[tokio::test]
    async fn normal_calls_wait_for_urgent_work_until_its_first_write() {
        let (gate, limiter) = (Arc::new(Gate::default()), limiter(1000));
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        let (g, l) = (gate.clone(), limiter.clone());
        let urgent = tokio::spawn(async move {
            g.clone()
                .urgent(async move {
                    g.permit(&l).await; // an urgent call does not wait for itself
                    wait.await.unwrap();
                    g.wrote();
                    std::future::pending::<()>().await; // still running, no longer urgent
                })
                .await
        });
        tokio::task::yield_now().await;
        let (g, l) = (gate.clone(), limiter.clone());
        let (tx, mut done) = tokio::sync::mpsc::unbounded_channel();
        let normal = tokio::spawn(async move {
            g.permit(&l).await;
            tx.send(()).unwrap();
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(done.try_recv().is_err(), "held while urgent work has not written");
        go.send(()).unwrap();
        normal.await.unwrap();
        urgent.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn normal_calls_are_held_at_most_max_hold_and_a_dropped_scope_releases_the_gate() {
        let (gate, limiter) = (Arc::new(Gate::default()), limiter(1000));
        let g = gate.clone();
        let stuck = tokio::spawn(async move { g.urgent(std::future::pending::<()>()).await });
        tokio::task::yield_now().await;
        let started = Instant::now();
        gate.permit(&limiter).await;
        assert!(started.elapsed() >= MAX_HOLD, "held for the bound");
        stuck.abort();
        let _ = stuck.await;
        let started = Instant::now();
        gate.wait_clear(started + MAX_HOLD).await;
        assert_eq!(started.elapsed(), Duration::ZERO, "an aborted urgent scope no longer holds anyone");
    }
}
