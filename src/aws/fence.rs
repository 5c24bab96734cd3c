//! Fencing: whether this process may write to AWS now. Without a lease table the fence is open;
//! with one it is open only until a moment before the lease could expire, and every write is
//! checked against it twice: before it waits for nothing else (`Caller`) and again just before
//! its bytes leave the process (an SDK interceptor), so a process paused mid-reconcile
//! (SIGSTOP, a long GC-like stall) that wakes after a new leader took over sends nothing.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

#[derive(Debug, Clone, Copy)]
enum State {
    /// No lease in use: one replica, always the writer.
    Open,
    /// Writes allowed until this instant (monotonic: it keeps counting while the process is
    /// stopped); `None`: not the writer.
    Until(Option<Instant>),
}

/// Shared by every account-region's caller; moved only by the lease elector.
#[derive(Debug, Clone)]
pub struct Fence(Arc<Mutex<State>>);

impl Default for Fence {
    fn default() -> Self {
        Fence::open()
    }
}

impl Fence {
    /// Always allows writes (no lease table).
    pub fn open() -> Self {
        Fence(Arc::new(Mutex::new(State::Open)))
    }

    /// Allows no write until [`Fence::hold_until`] is called.
    pub fn closed() -> Self {
        Fence(Arc::new(Mutex::new(State::Until(None))))
    }

    /// Allows writes until `deadline` (the lease holder, after each renewal).
    pub fn hold_until(&self, deadline: Instant) {
        *self.0.lock().unwrap() = State::Until(Some(deadline));
    }

    /// Allows no further write (the lease was lost or released).
    pub fn close(&self) {
        *self.0.lock().unwrap() = State::Until(None);
    }

    pub fn may_write(&self) -> bool {
        self.may_write_at(Instant::now())
    }

    pub fn may_write_at(&self, now: Instant) -> bool {
        match *self.0.lock().unwrap() {
            State::Open => true,
            State::Until(until) => until.is_some_and(|u| now < u),
        }
    }

    /// The interceptor that refuses a write at the last moment before it is sent.
    pub fn interceptor(&self) -> FenceInterceptor {
        FenceInterceptor(self.clone())
    }
}

/// One fence per shard (`--shards`); an account-region's writes pass its shard's fence.
#[derive(Debug, Clone)]
pub struct Fences(Arc<Vec<Fence>>);

impl Default for Fences {
    fn default() -> Self {
        Fences(Arc::new(vec![Fence::open()]))
    }
}

impl Fences {
    /// `shards` fences, each closed until its lease is held.
    pub fn closed(shards: usize) -> Self {
        Fences(Arc::new((0..shards.max(1)).map(|_| Fence::closed()).collect()))
    }

    pub fn get(&self, shard: usize) -> &Fence {
        &self.0[shard]
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The fence of an account-region (`account`: a role's; `None`: the controller's own).
    pub fn for_scope(&self, account: Option<&str>, region: &str) -> Fence {
        self.0[crate::types::shard_of(account, region, self.0.len())].clone()
    }
}

/// Refuses a write operation (not Get/List/Describe) when the fence is closed, just before the
/// request is transmitted (after credentials, signing and the connection pool).
#[derive(Debug)]
pub struct FenceInterceptor(Fence);

impl Intercept for FenceInterceptor {
    fn name(&self) -> &'static str {
        "LeaseFence"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = cfg.load::<Metadata>().map(|m| m.name()).unwrap_or("");
        if super::call::is_read(op) || self.0.may_write() {
            return Ok(());
        }
        Err(format!("{op} withheld: this replica does not hold the lease").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_fence_allows_writes_only_before_its_deadline_and_none_once_closed() {
        let now = Instant::now();
        assert!(Fence::open().may_write_at(now + Duration::from_secs(3600)));
        let f = Fence::closed();
        assert!(!f.may_write_at(now));
        f.hold_until(now + Duration::from_secs(15));
        assert!(f.may_write_at(now + Duration::from_secs(14)));
        assert!(!f.may_write_at(now + Duration::from_secs(15)), "not at the deadline itself");
        f.close();
        assert!(!f.may_write_at(now));
    }
}
