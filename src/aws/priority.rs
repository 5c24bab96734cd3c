//! Urgent work ahead of resyncs at the shared rate limiter: permits are taken one caller at a
//! time, and while work of a higher level is open, lower callers step aside (for a bounded time)
//! so its calls get the next permits. Levels, highest first: urgent work (a manifest change until
//! its first write; a rollout's reconcile, whole), shared work (a region snapshot refresh), the
//! rest (resyncs).

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::bucket::{Bucket, RESERVE};

/// The longest a normal call waits for urgent work: resyncs are delayed, never starved (an urgent
/// reconcile can wait minutes for a function update before its first write).
pub const MAX_HOLD: Duration = Duration::from_secs(2);

/// How urgent a scope's calls are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Resyncs and everything outside a scope.
    Normal = 0,
    /// Work other callers wait on (a region snapshot refresh).
    Shared = 1,
    /// A manifest change before its first write, a rollout's moves.
    Urgent = 2,
}

const LEVELS: usize = 3;

tokio::task_local! {
    static URGENT: Arc<Token>;
}

/// How many scopes of each level are open, and the turn to wait at the limiter.
#[derive(Default)]
pub struct Gate {
    open: [AtomicUsize; LEVELS],
    clear: Notify,
    /// A scope opened: a caller waiting for its permit with the turn checks whether to give it up.
    arrived: Notify,
    turn: tokio::sync::Mutex<()>,
}

/// When a scope's urgency ends (at the latest, when the scope does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Its first write (a manifest change; shared work).
    FirstWrite,
    /// Its first write of this operation (a rollout move ends with its alias write).
    Wrote(&'static str),
    /// Its end.
    End,
}

/// The operation that ends a rollout move: its alias's new weights or version.
pub const ALIAS_WRITE: &str = "lambda:UpdateAlias";

/// One scope; `open` until `until`.
pub struct Token {
    gate: Arc<Gate>,
    level: Level,
    until: Until,
    open: AtomicBool,
}

impl Token {
    /// Ends the urgency (idempotent).
    fn finish(&self) {
        if self.open.swap(false, Ordering::SeqCst)
            && self.gate.open[self.level as usize].fetch_sub(1, Ordering::SeqCst) == 1
        {
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

/// The level of the calls made here (`Normal` outside any open scope).
pub fn current() -> Level {
    URGENT.try_with(|t| if t.open.load(Ordering::SeqCst) { t.level } else { Level::Normal }).unwrap_or(Level::Normal)
}

/// True when the calls made here are urgent work: such work never waits on shared work (a
/// region snapshot refresh), it reads its own part instead.
pub fn is_urgent() -> bool {
    current() == Level::Urgent
}

impl Gate {
    /// Runs `f` as urgent work until its first write (a manifest change).
    pub async fn urgent<F: Future>(self: &Arc<Self>, f: F) -> F::Output {
        self.scope(Level::Urgent, Until::FirstWrite, f).await
    }

    /// Runs `f` as urgent work until `until` (a rollout's reconcile: until its move's alias
    /// write, so a step's or a roll-back's writes go ahead of resync reads too, and the reads
    /// after it do not hold other moves back; the alarm poll: until it ends).
    pub async fn rush<F: Future>(self: &Arc<Self>, until: Until, f: F) -> F::Output {
        self.scope(Level::Urgent, until, f).await
    }

    /// Runs `f` as shared work (other callers wait on it) until its first write.
    pub async fn shared<F: Future>(self: &Arc<Self>, f: F) -> F::Output {
        self.scope(Level::Shared, Until::FirstWrite, f).await
    }

    /// Runs `f` at `level`, or at the enclosing scope's when that is higher (work an urgent
    /// scope waits on is as urgent).
    async fn scope<F: Future>(self: &Arc<Self>, level: Level, until: Until, f: F) -> F::Output {
        let level = level.max(current());
        self.open[level as usize].fetch_add(1, Ordering::SeqCst);
        self.arrived.notify_waiters();
        let token = Arc::new(Token { gate: self.clone(), level, until, open: AtomicBool::new(true) });
        let _finish = Finish(token.clone());
        URGENT.scope(token, f).await
    }

    /// Open scopes above `level`.
    fn above(&self, level: Level) -> usize {
        self.open[level as usize + 1..].iter().map(|n| n.load(Ordering::SeqCst)).sum()
    }

    /// Takes a permit from `limiter`. Callers queue for it in turn (FIFO); a caller steps aside
    /// while work of a higher level is open, for at most `MAX_HOLD` from when it first did (the
    /// one waiting with the turn when such work begins gives the turn up too; a caller that has
    /// long waited in line still steps aside). Urgent work may take the limiter's last permits;
    /// other work leaves [`RESERVE`] of them for it.
    pub async fn permit(&self, limiter: &Bucket) {
        let level = current();
        let keep = if level == Level::Urgent { 0 } else { RESERVE };
        let mut held_since: Option<Instant> = None;
        loop {
            if self.above(level) > 0 {
                let since = *held_since.get_or_insert_with(Instant::now);
                self.wait_clear(level, since + MAX_HOLD).await;
            }
            let _turn = self.turn.lock().await;
            let held_enough = held_since.is_some_and(|t| t.elapsed() >= MAX_HOLD);
            if level == Level::Urgent || held_enough {
                limiter.take(keep).await;
                return;
            }
            // Waiting for a permit does not take one: giving the turn up costs nothing.
            loop {
                let arrived = self.arrived.notified();
                tokio::pin!(arrived);
                arrived.as_mut().enable();
                if self.above(level) > 0 {
                    break;
                }
                tokio::select! {
                    biased;
                    _ = limiter.take(keep) => return,
                    _ = &mut arrived => {}
                }
            }
        }
    }

    /// Waits until no scope above `level` is open, or `deadline`.
    async fn wait_clear(&self, level: Level, deadline: Instant) {
        let _ = tokio::time::timeout_at(deadline, async {
            loop {
                let cleared = self.clear.notified();
                if self.above(level) == 0 {
                    return;
                }
                cleared.await;
            }
        })
        .await;
    }

    /// After a write (`op`) was sent: the current scope (if any) ends its urgency when it lasts
    /// until such a write.
    pub fn wrote(&self, op: &'static str) {
        let _ = URGENT.try_with(|t| match t.until {
            Until::FirstWrite => t.finish(),
            Until::Wrote(o) if o == op => t.finish(),
            _ => {}
        });
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;
    use std::sync::Mutex;

    use super::*;

    fn limiter(per_second: u32) -> Arc<Bucket> {
        Arc::new(Bucket::with_burst(NonZeroU32::new(per_second).unwrap(), NonZeroU32::new(1).unwrap()))
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
                g.wrote("lambda:TagResource");
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
                    g.wrote("lambda:TagResource");
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
        gate.wait_clear(Level::Normal, started + MAX_HOLD).await;
        assert_eq!(started.elapsed(), Duration::ZERO, "an aborted urgent scope no longer holds anyone");
    }

    #[tokio::test]
    async fn a_rollouts_scope_stays_urgent_until_its_alias_write_and_an_edits_ends_at_its_first() {
        let gate = Arc::new(Gate::default());
        let g = gate.clone();
        let levels = gate
            .rush(Until::Wrote(ALIAS_WRITE), async move {
                let before = current();
                g.wrote("lambda:TagResource"); // the marker
                let marked = current();
                g.wrote(ALIAS_WRITE);
                (before, marked, current())
            })
            .await;
        assert_eq!(levels, (Level::Urgent, Level::Urgent, Level::Normal), "a step's alias write goes ahead too");
        let g = gate.clone();
        let levels = gate
            .urgent(async move {
                let before = current();
                g.wrote("lambda:TagResource");
                (before, current())
            })
            .await;
        assert_eq!(levels, (Level::Urgent, Level::Normal));
        assert_eq!(gate.above(Level::Normal), 0, "every scope closed");
    }

    #[tokio::test]
    async fn shared_work_inside_urgent_work_stays_urgent() {
        let gate = Arc::new(Gate::default());
        let g = gate.clone();
        let inner = gate.urgent(async move { g.shared(async { current() }).await }).await;
        assert_eq!(inner, Level::Urgent);
        assert_eq!(gate.shared(async { current() }).await, Level::Shared);
    }

    #[tokio::test]
    async fn urgent_calls_go_ahead_of_shared_work_and_shared_work_ahead_of_resyncs() {
        let (gate, limiter) = (Arc::new(Gate::default()), limiter(50));
        gate.permit(&limiter).await; // the bucket is empty: each later permit waits its turn
        let order = Arc::new(Mutex::new(Vec::new()));
        let (go_tx, go) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for (name, level) in [("normal", Level::Normal), ("shared", Level::Shared), ("urgent", Level::Urgent)] {
            let (g, l, o, mut go) = (gate.clone(), limiter.clone(), order.clone(), go.clone());
            tasks.push(tokio::spawn(async move {
                let calls = async {
                    go.wait_for(|x| *x).await.unwrap();
                    for _ in 0..3 {
                        g.permit(&l).await;
                        o.lock().unwrap().push(name);
                    }
                };
                match level {
                    Level::Normal => calls.await,
                    Level::Shared => g.clone().shared(calls).await,
                    Level::Urgent => g.clone().rush(Until::End, calls).await,
                }
            }));
        }
        while gate.above(Level::Normal) < 2 {
            tokio::task::yield_now().await; // both scopes open
        }
        go_tx.send(true).unwrap();
        for t in tasks {
            t.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(order, ["urgent", "urgent", "urgent", "shared", "shared", "shared", "normal", "normal", "normal"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_that_waited_long_in_line_still_steps_aside_for_urgent_work() {
        let (gate, limiter) = (Arc::new(Gate::default()), limiter(1));
        gate.permit(&limiter).await; // empty: one permit a second from now
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut normal = Vec::new();
        for _ in 0..4 {
            let (g, l, o) = (gate.clone(), limiter.clone(), order.clone());
            normal.push(tokio::spawn(async move {
                g.permit(&l).await;
                o.lock().unwrap().push("normal");
            }));
        }
        // Longer than MAX_HOLD in line: two have had their permits, two still wait.
        tokio::time::sleep(MAX_HOLD + Duration::from_millis(500)).await;
        let before = order.lock().unwrap().len();
        let (g, l, o) = (gate.clone(), limiter.clone(), order.clone());
        g.clone()
            .urgent(async move {
                g.permit(&l).await;
                o.lock().unwrap().push("urgent");
                g.wrote("lambda:UpdateFunctionConfiguration");
            })
            .await;
        for n in normal {
            n.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        let urgent = order.iter().position(|x| *x == "urgent").unwrap();
        assert!(urgent <= before + 1, "at most the turn's holder went first: {order:?} (before {before})");
    }
}
