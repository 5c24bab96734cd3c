//! The HTTP endpoints: / (the status page), /healthz, /readyz, /status (JSON), /metrics (Prometheus text) and the
//! operator's rollout commands (POST /rollouts/REGION/FUNCTION/ALIAS/promote|abort|retry), behind
//! the Host and origin checks and an optional bearer token (all but the probes).

pub mod guard;
pub mod limits;
mod server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::metrics::Metrics;
use crate::status::StatusStore;

/// An operator's request `(region, function, alias, action)`, answered `Ok(what was done)` or
/// `Err(why not)` by the controller.
pub type OperatorHook = Arc<
    dyn Fn(String, String, String, String) -> futures::future::BoxFuture<'static, Result<String, String>> + Send + Sync,
>;

#[derive(Clone)]
pub struct AdminState {
    pub status: Arc<StatusStore>,
    pub metrics: Arc<Metrics>,
    pub operator: Option<OperatorHook>,
    /// `--admin-token-file`: every endpoint but /healthz and /readyz wants `Bearer <token>`.
    pub token: Option<AdminToken>,
    /// `--admin-allowed-host`: names the Host header may carry besides IP literals and localhost.
    pub allowed_hosts: guard::AllowedHosts,
    /// [`limits::HEADER_READ_TIMEOUT`], or `--admin-header-timeout`.
    pub header_timeout: Duration,
}

impl AdminState {
    /// No operator, no token, no allowed name, the default header timeout.
    pub fn new(status: Arc<StatusStore>, metrics: Arc<Metrics>) -> AdminState {
        AdminState {
            status,
            metrics,
            operator: None,
            token: None,
            allowed_hosts: guard::AllowedHosts::default(),
            header_timeout: limits::HEADER_READ_TIMEOUT,
        }
    }
}

/// The admin listener's bearer token, kept as its SHA-256: a request's token is compared by
/// digest in constant time, so neither its content nor its length shows in the timing.
#[derive(Clone)]
pub struct AdminToken(ring::digest::Digest);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

impl AdminToken {
    pub fn new(token: &str) -> Self {
        AdminToken(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()))
    }

    fn accepts(&self, given: &str) -> bool {
        let d = ring::digest::digest(&ring::digest::SHA256, given.as_bytes());
        #[allow(deprecated)]
        ring::constant_time::verify_slices_are_equal(d.as_ref(), self.0.as_ref()).is_ok()
    }
}

/// The token a request carries: `Bearer TOKEN` (Prometheus, the CLI) or, for a browser, Basic
/// authentication with the token as the password (any user name).
/// Basic is taken for reads only (GET, HEAD): a browser sends cached Basic credentials with a
/// form another site posts, so the rollout commands (POST) want the bearer token.
fn presented(value: &str, read: bool) -> Option<String> {
    if let Some(t) = value.strip_prefix("Bearer ") {
        return Some(t.to_string());
    }
    let (scheme, encoded) = value.split_once(' ')?;
    if !read || !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = aws_smithy_types::base64::decode(encoded.trim()).ok()?;
    String::from_utf8(decoded).ok()?.split_once(':').map(|(_user, password)| password.to_string())
}

/// Lets the probes through; anything else needs the token when one is set.
async fn authorize(
    State(s): State<AdminState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let open = matches!(req.uri().path(), "/healthz" | "/readyz");
    let Some(token) = s.token.as_ref().filter(|_| !open) else { return next.run(req).await };
    let read = matches!(*req.method(), axum::http::Method::GET | axum::http::Method::HEAD);
    let given = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| presented(v, read));
    if given.is_some_and(|g| token.accepts(&g)) {
        next.run(req).await
    } else {
        // Two challenges: a browser asks for a password (the token) on the Basic one.
        let mut res =
            (StatusCode::UNAUTHORIZED, "the admin token is required (Bearer; Basic for reads)\n").into_response();
        let h = res.headers_mut();
        h.append(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        h.append(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"lambda-reconciler\", charset=\"UTF-8\""),
        );
        res
    }
}

async fn operate(
    State(s): State<AdminState>,
    axum::extract::Path((region, function, alias, action)): axum::extract::Path<(String, String, String, String)>,
) -> impl IntoResponse {
    let Some(hook) = s.operator else {
        return Json(serde_json::json!({"ok": false, "message": "this controller takes no operator commands"}));
    };
    match hook(region, function, alias, action).await {
        Ok(message) => Json(serde_json::json!({"ok": true, "message": message})),
        Err(message) => Json(serde_json::json!({"ok": false, "message": message})),
    }
}

/// Liveness: 500 once any task has panicked (the process is stopping; its state is suspect).
async fn healthz(State(s): State<AdminState>) -> impl IntoResponse {
    match s.status.panicked() {
        Some(at) => (StatusCode::INTERNAL_SERVER_ERROR, format!("unhealthy: a task panicked at {at}\n")),
        None => (StatusCode::OK, "ok\n".to_string()),
    }
}

async fn readyz(State(s): State<AdminState>) -> impl IntoResponse {
    if s.status.role() == "follower" {
        // Ready (it serves, and takes over when the leader goes), but not the writer.
        (StatusCode::OK, "follower\n")
    } else if s.status.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

/// `?offset=N&limit=M` of `/status`: `None` when a value is not a number.
fn page_of(query: &str) -> Option<(usize, usize)> {
    let (mut offset, mut limit) = (0, limits::STATUS_PAGE_DEFAULT);
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "offset" => offset = v.parse().ok()?,
            "limit" => limit = v.parse().ok()?,
            _ => {}
        }
    }
    Some((offset, limit.clamp(1, limits::STATUS_PAGE_MAX)))
}

/// One page of the statuses (in a stable order), with `total` and, while more remain, `next`
/// (the offset of the next page).
async fn status(State(s): State<AdminState>, uri: axum::http::Uri) -> axum::response::Response {
    let Some((offset, limit)) = page_of(uri.query().unwrap_or("")) else {
        return (StatusCode::BAD_REQUEST, "offset and limit are numbers\n").into_response();
    };
    let role = s.status.role();
    let ready = role == "follower" || s.status.is_ready();
    let (total, manifests) = s.status.page(offset, limit);
    let mut body = serde_json::json!({
        "ready": ready, "role": role, "revision": s.status.revision(), "manifests": manifests, "alerts": s.status.recent_alerts(),
        "total": total, "offset": offset, "limit": limit,
    });
    let end = offset.saturating_add(limit);
    if end < total {
        body["next"] = serde_json::json!(end);
    }
    let shards = s.status.shards();
    if !shards.is_empty() {
        body["shards"] = serde_json::json!(shards);
    }
    Json(body).into_response()
}

async fn metrics(State(s): State<AdminState>) -> impl IntoResponse {
    s.metrics.set_states(&s.status.counts());
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], s.metrics.encode())
}

async fn page(State(s): State<AdminState>, uri: axum::http::Uri) -> impl IntoResponse {
    let q = crate::page::Query::parse(uri.query().unwrap_or(""));
    let role = s.status.role();
    let shards = s.status.shards();
    let revision = s.status.revision();
    let header = crate::page::Header {
        role,
        ready: role == "follower" || s.status.is_ready(),
        shards: &shards,
        revision: revision.as_deref(),
    };
    let alerts = s.status.recent_alerts();
    axum::response::Html(s.status.with_all(|all| crate::page::render(all, &alerts, &q, &header)))
}

pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/rollouts/{region}/{function}/{alias}/{action}", axum::routing::post(operate))
        // Outermost last: the Host and origin checks, then the token, then a command's body.
        .layer(axum::middleware::from_fn(guard::read_body))
        .layer(axum::middleware::from_fn_with_state(state.clone(), authorize))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::guard))
        .with_state(state)
}

/// Binds `addr` (port 0 picks one) and serves until `shutdown` resolves; returns the bound address
/// and the server's task (the limits: [`limits`]).
pub async fn serve(
    addr: SocketAddr,
    state: AdminState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let header_timeout = state.header_timeout;
    server::serve(addr, router(state), header_timeout, shutdown).await
}
