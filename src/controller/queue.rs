//! A work queue keyed by function: duplicates collapse, one run per key at a time (a key added
//! while running runs again after), and delayed re-adds (backoff, resync) keep only the earliest,
//! all held in one `DelayQueue` driven by one task.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::time::{delay_queue, DelayQueue};

use crate::types::limits::MAX_QUEUE_DELAY;

struct State<K> {
    ready: VecDeque<K>,
    queued: HashSet<K>,
    running: HashSet<K>,
    dirty: HashSet<K>,
    /// Keys added first (manifest changes) not yet handed out.
    urgent: HashSet<K>,
    /// Delayed keys that go first when due (a rollout's next move).
    first_when_due: HashSet<K>,
    /// Delayed adds: one timer entry per key (the earliest wins).
    delays: DelayQueue<K>,
    delayed: HashMap<K, delay_queue::Key>,
    closed: bool,
}

pub struct Queue<K> {
    state: Mutex<State<K>>,
    notify: Notify,
    /// Wakes the urgent lane: a worker that takes only keys added first, so an edited function
    /// does not wait for a busy worker to finish a resync.
    urgent_notify: Notify,
}

impl<K: Clone + Eq + Hash + Send + 'static> Queue<K> {
    /// A new queue, with the task that moves due delayed adds to the queue (needs a runtime).
    pub fn new() -> Arc<Self> {
        let q = Arc::new(Queue {
            state: Mutex::new(State {
                ready: VecDeque::new(),
                queued: HashSet::new(),
                running: HashSet::new(),
                dirty: HashSet::new(),
                urgent: HashSet::new(),
                first_when_due: HashSet::new(),
                delays: DelayQueue::new(),
                delayed: HashMap::new(),
                closed: false,
            }),
            notify: Notify::new(),
            urgent_notify: Notify::new(),
        });
        tokio::spawn(Arc::clone(&q).drive_delays());
        q
    }

    /// Adds each delayed key when it is due; ends when the queue closes.
    async fn drive_delays(self: Arc<Self>) {
        loop {
            let due = std::future::poll_fn(|cx| {
                let mut s = self.state.lock().unwrap();
                if s.closed {
                    return Poll::Ready(None);
                }
                match s.delays.poll_expired(cx) {
                    Poll::Ready(Some(expired)) => {
                        let key = expired.into_inner();
                        s.delayed.remove(&key);
                        let first = s.first_when_due.remove(&key);
                        Poll::Ready(Some((key, first)))
                    }
                    // Empty or not yet due: an insert, reset or close wakes this task.
                    _ => Poll::Pending,
                }
            })
            .await;
            match due {
                Some((key, true)) => self.add_first(key),
                Some((key, false)) => self.add(key),
                None => return,
            }
        }
    }

    /// Enqueues `key` now, behind the keys already waiting (cancelling any delayed add of it).
    pub fn add(&self, key: K) {
        self.enqueue(key, false);
    }

    /// Enqueues `key` ahead of every waiting key: a manifest change does not wait behind resyncs.
    pub fn add_first(&self, key: K) {
        self.enqueue(key, true);
    }

    fn enqueue(&self, key: K, first: bool) {
        let mut s = self.state.lock().unwrap();
        if let Some(timer) = s.delayed.remove(&key) {
            s.delays.remove(&timer);
            s.first_when_due.remove(&key);
        }
        if s.closed {
            return;
        }
        if first {
            s.urgent.insert(key.clone());
        }
        if s.running.contains(&key) {
            s.dirty.insert(key);
            return;
        }
        if !s.queued.insert(key.clone()) {
            if !first {
                return;
            }
            s.ready.retain(|k| k != &key);
        }
        if first {
            s.ready.push_front(key);
        } else {
            s.ready.push_back(key);
        }
        drop(s);
        self.notify.notify_one();
        if first {
            self.urgent_notify.notify_one();
        }
    }

    /// Enqueues `key` after `delay` (at most [`MAX_QUEUE_DELAY`]: a reconcile then schedules the
    /// rest), unless an earlier add is already scheduled.
    pub fn add_after(&self, key: K, delay: Duration) {
        let at = Instant::now() + delay.min(MAX_QUEUE_DELAY);
        let mut s = self.state.lock().unwrap();
        if s.closed {
            return;
        }
        match s.delayed.get(&key).copied() {
            Some(timer) if s.delays.deadline(&timer) <= at => {}
            Some(timer) => s.delays.reset_at(&timer, at),
            None => {
                let timer = s.delays.insert_at(key.clone(), at);
                s.delayed.insert(key, timer);
            }
        }
    }

    /// [`Queue::add_after`], and when due the key goes first (a rollout's next move: it does not
    /// wait behind a resync pass's keys, and the urgent lane may take it).
    pub fn add_after_first(&self, key: K, delay: Duration) {
        self.add_after(key.clone(), delay);
        let mut s = self.state.lock().unwrap();
        if s.delayed.contains_key(&key) {
            s.first_when_due.insert(key);
        }
    }

    /// The next key to work on; `None` once the queue is closed.
    pub async fn next(&self) -> Option<K> {
        self.next_in(false).await
    }

    /// The next key added first (the urgent lane); `None` once the queue is closed. Keys added
    /// first sit at the front, so only the front needs looking at.
    pub async fn next_urgent(&self) -> Option<K> {
        self.next_in(true).await
    }

    async fn next_in(&self, urgent_only: bool) -> Option<K> {
        let wake = if urgent_only { &self.urgent_notify } else { &self.notify };
        loop {
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut s = self.state.lock().unwrap();
                if s.closed {
                    return None;
                }
                let eligible = s.ready.front().is_some_and(|k| !urgent_only || s.urgent.contains(k));
                if eligible {
                    let k = s.ready.pop_front().expect("front checked");
                    s.queued.remove(&k);
                    s.running.insert(k.clone());
                    if !s.ready.is_empty() {
                        self.notify.notify_one();
                    }
                    return Some(k);
                }
            }
            notified.await;
        }
    }

    /// Marks `key` finished; it runs again (first) if it was added meanwhile.
    pub fn done(&self, key: &K) {
        let again = {
            let mut s = self.state.lock().unwrap();
            s.running.remove(key);
            s.dirty.remove(key)
        };
        if again {
            self.add_first(key.clone());
        }
    }

    /// Whether `key` (just handed out) was added first; clears the mark.
    pub fn take_urgent(&self, key: &K) -> bool {
        self.state.lock().unwrap().urgent.remove(key)
    }

    /// Keys waiting to run.
    pub fn depth(&self) -> usize {
        self.state.lock().unwrap().ready.len()
    }

    pub fn running(&self) -> usize {
        self.state.lock().unwrap().running.len()
    }

    /// Stops handing out work; waiting `next` calls return `None`.
    pub fn close(&self) {
        let mut s = self.state.lock().unwrap();
        s.closed = true;
        // Wakes the delay driver (it sees `closed`) and drops the pending timers.
        s.delays.clear();
        s.first_when_due.clear();
        drop(s);
        self.notify.notify_waiters();
        self.urgent_notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn duplicates_collapse_into_one_entry() {
        let q = Queue::new();
        for _ in 0..50 {
            q.add("f");
        }
        q.add("g");
        assert_eq!(q.depth(), 2);
        assert_eq!(q.next().await, Some("f"));
        assert_eq!(q.next().await, Some("g"));
    }

    #[tokio::test]
    async fn a_key_added_while_running_runs_again_only_after_done() {
        let q = Queue::new();
        q.add("f");
        let k = q.next().await.unwrap();
        q.add("f");
        q.add("f");
        assert_eq!(q.depth(), 0, "not handed out twice at once");
        q.done(&k);
        assert_eq!(q.depth(), 1);
        assert_eq!(q.next().await, Some("f"));
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_adds_keep_only_the_earliest_and_an_immediate_add_cancels_them() {
        let q = Queue::new();
        q.add_after("f", Duration::from_secs(10));
        q.add_after("f", Duration::from_secs(60));
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert_eq!(q.depth(), 1);
        assert_eq!(q.next().await, Some("f"));
        q.done(&"f");
        q.add_after("f", Duration::from_secs(5));
        q.add("f");
        assert_eq!(q.next().await, Some("f"));
        q.done(&"f");
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(q.depth(), 0, "the cancelled delayed add did not fire");
    }

    #[tokio::test(start_paused = true)]
    async fn a_delay_of_years_is_clamped_to_a_day_instead_of_panicking_the_timer_wheel() {
        let q = Queue::new();
        q.add_after("f", Duration::from_secs(3 * 365 * 24 * 3600));
        q.add_after("g", Duration::MAX);
        tokio::time::sleep(MAX_QUEUE_DELAY + Duration::from_secs(1)).await;
        assert_eq!(q.depth(), 2, "both due after a day");
        q.add("h");
        assert_eq!(q.depth(), 3, "the queue still works");
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_delayed_add_moved_earlier_fires_at_the_earlier_time() {
        let q = Queue::new();
        q.add_after("f", Duration::from_secs(60));
        q.add_after("g", Duration::from_secs(30));
        q.add_after("f", Duration::from_secs(10));
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert_eq!((q.depth(), q.next().await), (1, Some("f")), "moved to 10 s, not kept at 60 s");
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!((q.depth(), q.next().await), (1, Some("g")));
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(q.depth(), 0, "each key fired once");
    }

    #[tokio::test]
    async fn a_key_added_first_goes_ahead_of_keys_already_waiting() {
        let q = Queue::new();
        for k in ["r1", "r2", "r3"] {
            q.add(k);
        }
        q.add_first("edited");
        q.add_first("r3");
        assert_eq!(q.depth(), 4, "moved, not duplicated");
        let order = [q.next().await, q.next().await, q.next().await, q.next().await];
        assert_eq!(order, [Some("r3"), Some("edited"), Some("r1"), Some("r2")]);
        assert!(q.take_urgent(&"edited") && q.take_urgent(&"r3"));
        assert!(!q.take_urgent(&"r1") && !q.take_urgent(&"edited"), "marked once, cleared when taken");
    }

    #[tokio::test]
    async fn the_urgent_lane_takes_a_key_added_first_and_leaves_plain_keys_to_the_workers() {
        let q: Arc<Queue<&str>> = Queue::new();
        q.add("resync");
        let q2 = q.clone();
        let lane = tokio::spawn(async move { q2.next_urgent().await });
        tokio::task::yield_now().await;
        assert!(!lane.is_finished(), "a plain key is not the urgent lane's");
        q.add_first("edited");
        assert_eq!(lane.await.unwrap(), Some("edited"));
        assert_eq!(q.depth(), 1);
        q.add_first("resync");
        q.done(&"edited");
        assert_eq!(q.next_urgent().await, Some("resync"), "a waiting key moved first is urgent too");
    }

    #[tokio::test]
    async fn close_wakes_waiting_workers_with_none() {
        let q: Arc<Queue<&str>> = Queue::new();
        let q2 = q.clone();
        let waiter = tokio::spawn(async move { q2.next().await });
        tokio::task::yield_now().await;
        q.close();
        assert_eq!(waiter.await.unwrap(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_delayed_key_added_to_go_first_is_handed_out_ahead_of_waiting_keys_and_to_the_urgent_lane() {
        let q = Queue::new();
        q.add_after_first("step", Duration::from_secs(3));
        q.add_after("resync", Duration::from_secs(3));
        for k in ["r1", "r2", "r3"] {
            q.add(k);
        }
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(q.next_urgent().await, Some("step"), "first, and the urgent lane's");
        assert!(q.take_urgent(&"step"));
        assert_eq!(q.next().await, Some("r1"));
        assert_eq!(q.depth(), 3, "the plain delayed key went to the back: r2, r3, resync");
    }
}
