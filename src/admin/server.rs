//! The admin listener's accept loop: hyper's http1 server per connection, with a header-read timeout and a connection limit that closes the oldest idle connection first.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::{watch, Notify};

use super::limits::{ACCEPT_BACKOFF, MAX_CONNECTIONS, MAX_HEADER_BYTES, SHUTDOWN_GRACE};

/// One open connection: whether a request is in flight, and how to close it.
#[derive(Default)]
struct ConnState {
    /// Requests in flight (0: idle, evictable).
    busy: AtomicUsize,
    close: Notify,
}

/// The open connections by age (a smaller id is older).
#[derive(Default)]
struct Conns {
    open: Mutex<(u64, BTreeMap<u64, Arc<ConnState>>)>,
}

/// A connection's place in [`Conns`], given up on drop.
struct Admitted {
    id: u64,
    state: Arc<ConnState>,
    conns: Arc<Conns>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.conns.open.lock().unwrap().1.remove(&self.id);
    }
}

impl Conns {
    /// A place for a new connection within `max`: at the limit the oldest idle connection is
    /// closed to make room; `None` when every open connection has a request in flight.
    fn admit(self: &Arc<Self>, max: usize) -> Option<Admitted> {
        let mut guard = self.open.lock().unwrap();
        let (next, open) = &mut *guard;
        if open.len() >= max {
            let oldest_idle = open.iter().find(|(_, c)| c.busy.load(Ordering::SeqCst) == 0).map(|(id, _)| *id)?;
            if let Some(evicted) = open.remove(&oldest_idle) {
                evicted.close.notify_one();
            }
        }
        *next += 1;
        let state = Arc::new(ConnState::default());
        open.insert(*next, state.clone());
        Some(Admitted { id: *next, state, conns: self.clone() })
    }
}

/// Marks a request in flight on its connection while it lives.
struct Busy(Arc<ConnState>);

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
    let conns = Arc::new(Conns::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, _)) => match conns.admit(MAX_CONNECTIONS) {
                Some(place) => {
                    tasks.spawn(connection(stream, app.clone(), place, header_timeout, stop_rx.clone()));
                }
                None => tracing::debug!("admin listener: every connection busy, a new one closed"),
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
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let busy = Busy::enter(&state);
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

    #[test]
    fn at_the_limit_the_oldest_idle_connection_makes_room_and_busy_ones_are_kept() {
        let conns = Arc::new(Conns::default());
        let a = conns.admit(2).unwrap();
        let b = conns.admit(2).unwrap();
        let _busy = Busy::enter(&a.state);
        let c = conns.admit(2).expect("b is idle: it makes room");
        let open: Vec<u64> = conns.open.lock().unwrap().1.keys().copied().collect();
        assert_eq!(open, vec![a.id, c.id]);
        let _busy_c = Busy::enter(&c.state);
        assert!(conns.admit(2).is_none(), "every connection busy: the new one is refused");
        drop((a, b));
        assert_eq!(conns.open.lock().unwrap().1.len(), 1, "a closed connection gives its place up");
    }
}
