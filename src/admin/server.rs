//! The admin listener's accept loop: hyper's http1 server per connection, with a header-read timeout and a connection limit that closes the oldest idle connection first.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};

use super::limits::{
    ACCEPT_BACKOFF, EVICTION_WAIT, MAX_CONNECTIONS, MAX_HEADER_BYTES, MIN_CONNECTIONS, SHUTDOWN_GRACE,
};

/// One open connection: whether a request is in flight, and how to close it.
#[derive(Default)]
struct ConnState {
    /// Requests in flight (0: idle, evictable).
    busy: AtomicUsize,
    /// Told to close (evicted), not closed yet.
    closing: AtomicBool,
    close: Notify,
}

/// The open connections by age (a smaller id is older), and a slot (permit) for each.
struct Conns {
    open: Mutex<(u64, BTreeMap<u64, Arc<ConnState>>)>,
    slots: Arc<Semaphore>,
}

/// A connection's place in [`Conns`], given up on drop (after its socket: a task's parameters
/// are dropped after its locals).
struct Admitted {
    id: u64,
    state: Arc<ConnState>,
    conns: Arc<Conns>,
    _slot: OwnedSemaphorePermit,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.conns.open.lock().unwrap().1.remove(&self.id);
    }
}

impl Conns {
    fn new(max: usize) -> Arc<Conns> {
        Arc::new(Conns { open: Mutex::default(), slots: Arc::new(Semaphore::new(max)) })
    }

    /// A place for a new connection: a free slot, or at the limit the slot of the oldest idle
    /// connection, which is closed to make room (waited for, within [`EVICTION_WAIT`], so the
    /// open sockets never exceed the limit by more than this one); `None` when every open
    /// connection has a request in flight.
    async fn admit(self: &Arc<Self>) -> Option<Admitted> {
        let slot = match self.slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                self.evict_oldest_idle()?;
                tokio::time::timeout(EVICTION_WAIT, self.slots.clone().acquire_owned()).await.ok()?.ok()?
            }
        };
        let mut guard = self.open.lock().unwrap();
        let (next, open) = &mut *guard;
        *next += 1;
        let state = Arc::new(ConnState::default());
        open.insert(*next, state.clone());
        Some(Admitted { id: *next, state, conns: self.clone(), _slot: slot })
    }

    /// Tells the oldest idle connection to close; `None` when there is none.
    fn evict_oldest_idle(&self) -> Option<()> {
        let open = self.open.lock().unwrap();
        let idle = |c: &Arc<ConnState>| c.busy.load(Ordering::SeqCst) == 0 && !c.closing.load(Ordering::SeqCst);
        let oldest = open.1.values().find(|c| idle(c))?;
        oldest.closing.store(true, Ordering::SeqCst);
        oldest.close.notify_one();
        Some(())
    }
}

/// Marks a request in flight on its connection while it lives.
pub(super) struct Busy(Arc<ConnState>);

/// A command's connection, in a request's extensions: it is marked busy (kept at the limit) only
/// once the command's body has arrived ([`Pending::enter`]), so a client that sends a command's
/// head and never its body holds an evictable connection, not a slot the probes need.
#[derive(Clone)]
pub(super) struct Pending(Arc<ConnState>);

impl Pending {
    pub(super) fn enter(&self) -> Busy {
        Busy::enter(&self.0)
    }
}

impl Busy {
    fn enter(state: &Arc<ConnState>) -> Busy {
        state.busy.fetch_add(1, Ordering::SeqCst);
        Busy(state.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// [`MAX_CONNECTIONS`], or half the open-file limit when lower (at least [`MIN_CONNECTIONS`]).
fn max_connections() -> usize {
    match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((soft, _)) => MAX_CONNECTIONS.min(usize::try_from(soft / 2).unwrap_or(usize::MAX).max(MIN_CONNECTIONS)),
        Err(_) => MAX_CONNECTIONS,
    }
}

/// Binds `addr` (port 0 picks one) and serves `app` until `shutdown` resolves; returns the bound
/// address and the task, which ends once the connections have finished (at most
/// [`SHUTDOWN_GRACE`] after `shutdown`).
pub async fn serve(
    addr: SocketAddr,
    app: axum::Router,
    header_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    Ok((bound, tokio::spawn(accept(listener, app, header_timeout, shutdown))))
}

async fn accept(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    header_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let max = max_connections();
    let conns = Conns::new(max);
    tracing::debug!(max_connections = max, "admin listener");
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, _)) => match conns.admit().await {
                Some(place) => {
                    tasks.spawn(connection(stream, app.clone(), place, header_timeout, stop_rx.clone()));
                }
                None => tracing::debug!("admin listener: every connection busy, the new one closed"),
            },
            Err(e) => {
                tracing::warn!(error = %e, "admin listener: accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
        while tasks.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async { while tasks.join_next().await.is_some() {} }).await;
}

/// Serves one connection until it ends, is evicted (closed at once) or the listener stops
/// (`stop` changes: the request in flight finishes first).
async fn connection(
    stream: tokio::net::TcpStream,
    app: axum::Router,
    place: Admitted,
    header_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let tower = TowerToHyperService::new(app);
    let state = place.state.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        // A read is busy at once; a command once its body is read (guard::read_body).
        let busy = match *req.method() {
            hyper::Method::GET | hyper::Method::HEAD => Some(Busy::enter(&state)),
            _ => {
                req.extensions_mut().insert(Pending(state.clone()));
                None
            }
        };
        let answer = hyper::service::Service::call(&tower, req);
        async move {
            let res = answer.await;
            drop(busy);
            res
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_timeout).max_buf_size(MAX_HEADER_BYTES);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "admin connection ended");
            }
        }
        _ = place.state.close.notified() => tracing::debug!("admin connection closed for a new one (oldest idle)"),
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Closes `place` when it is told to (as its connection's task does).
    fn serve(place: Admitted) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            place.state.close.notified().await;
            drop(place);
        })
    }

    #[tokio::test]
    async fn at_the_limit_the_oldest_idle_connection_makes_room_and_busy_ones_are_kept() {
        let conns = Conns::new(2);
        let a = conns.admit().await.unwrap();
        let b = conns.admit().await.unwrap();
        let (a_id, b_id) = (a.id, b.id);
        let _busy = Busy::enter(&a.state);
        let a_state = a.state.clone();
        let (_a, b) = (serve(a), serve(b));
        let c = conns.admit().await.expect("b is idle: it makes room");
        b.await.unwrap();
        let open: Vec<u64> = conns.open.lock().unwrap().1.keys().copied().collect();
        assert_eq!(open, vec![a_id, c.id]);
        assert!(b_id < c.id && !a_state.closing.load(Ordering::SeqCst));
        let _busy_c = Busy::enter(&c.state);
        assert!(conns.admit().await.is_none(), "every connection busy: the new one is refused");
        drop(c);
        assert!(conns.admit().await.is_some(), "a closed connection gives its place up");
    }
}
