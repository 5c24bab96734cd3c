//! Refuses cross-site and DNS-rebinding requests: the Host check on every endpoint but the probes, and the origin, content type and body limits of the rollout commands.

use std::net::{IpAddr, Ipv6Addr};

use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::limits::{BODY_READ_TIMEOUT, MAX_BODY_BYTES};
use super::AdminState;

/// Names the Host header may carry besides IP literals and `localhost` (`--admin-allowed-host`),
/// lower case, without a trailing dot.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts(Vec<String>);

impl AllowedHosts {
    pub fn new<S: AsRef<str>>(names: &[S]) -> AllowedHosts {
        AllowedHosts(names.iter().map(|n| normal(n.as_ref())).collect())
    }

    /// An IP literal (a rebinding page is served under a name, never an address), `localhost`,
    /// or a name given; any port.
    fn allows(&self, host: &str) -> bool {
        let Some(name) = host_name(host) else { return false };
        if name.parse::<IpAddr>().is_ok() {
            return true;
        }
        if let Some(v6) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
            return v6.parse::<Ipv6Addr>().is_ok();
        }
        let name = normal(name);
        name == "localhost" || self.0.contains(&name)
    }
}

fn normal(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The name (or bracketed IPv6 address) of a Host value, its `:port` removed; `None` if malformed.
fn host_name(host: &str) -> Option<&str> {
    let name = match host.rfind(':') {
        Some(i) if !host[..i].contains(':') || host[..i].ends_with(']') => {
            let port = &host[i + 1..];
            (!port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())).then_some(&host[..i])?
        }
        _ => host,
    };
    (!name.is_empty()).then_some(name)
}

/// Why a request is refused (the 403's body).
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Host,
    CrossOrigin,
    ContentType,
}

impl Refusal {
    fn reason(&self) -> &'static str {
        match self {
            Refusal::Host => "refused: the Host is not an IP address, localhost or an --admin-allowed-host name\n",
            Refusal::CrossOrigin => "refused: a cross-origin request may not operate\n",
            Refusal::ContentType => "refused: a command wants Content-Type: application/json\n",
        }
    }
}

/// The checks of every request (but the probes): the Host; and of a command (any method but GET
/// and HEAD): a same-origin or absent `Origin`, a `Sec-Fetch-Site` of `same-origin` or `none`
/// when present, and `Content-Type: application/json` (which a cross-site form cannot send).
pub fn check(
    method: &Method,
    headers: &HeaderMap,
    authority: Option<&str>,
    allowed: &AllowedHosts,
) -> Result<(), Refusal> {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = value(header::HOST.as_str()).or(authority).ok_or(Refusal::Host)?;
    if !allowed.allows(host) {
        return Err(Refusal::Host);
    }
    if matches!(*method, Method::GET | Method::HEAD) {
        return Ok(());
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let same =
            origin.to_str().ok().and_then(|o| o.split_once("://")).is_some_and(|(scheme, origin)| {
                matches!(scheme, "http" | "https") && origin.eq_ignore_ascii_case(host)
            });
        if !same {
            return Err(Refusal::CrossOrigin);
        }
    }
    if value("sec-fetch-site").is_some_and(|s| s != "same-origin" && s != "none") {
        return Err(Refusal::CrossOrigin);
    }
    let media =
        value(header::CONTENT_TYPE.as_str()).map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    if media.as_deref() != Some("application/json") {
        return Err(Refusal::ContentType);
    }
    Ok(())
}

/// The middleware: the probes pass; other requests are checked (Host, and for a command its
/// origin and content type), before anything else, the token included.
pub async fn guard(State(s): State<AdminState>, req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if matches!(req.uri().path(), "/healthz" | "/readyz") {
        return next.run(req).await;
    }
    if let Err(r) = check(req.method(), req.headers(), req.uri().authority().map(|a| a.as_str()), &s.allowed_hosts) {
        return (StatusCode::FORBIDDEN, r.reason()).into_response();
    }
    next.run(req).await
}

/// The innermost middleware, after the token check: a command's body is read (at most
/// [`MAX_BODY_BYTES`], within [`BODY_READ_TIMEOUT`]) and must be JSON (`{}`) or empty; only then
/// is its connection busy (kept at the connection limit).
pub async fn read_body(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    let pending = req.extensions().get::<super::server::Pending>().cloned();
    let (parts, body) = req.into_parts();
    let bytes = match tokio::time::timeout(BODY_READ_TIMEOUT, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
        Err(_) => return (StatusCode::REQUEST_TIMEOUT, "the body did not arrive in time\n").into_response(),
        Ok(Err(_)) => {
            let too_large = format!("the body is over {MAX_BODY_BYTES} bytes (or broken)\n");
            return (StatusCode::PAYLOAD_TOO_LARGE, too_large).into_response();
        }
        Ok(Ok(b)) => b,
    };
    if !bytes.is_empty() && serde_json::from_slice::<serde_json::Value>(&bytes).is_err() {
        return (StatusCode::BAD_REQUEST, "the body is not JSON (send {})\n").into_response();
    }
    let _busy = pending.as_ref().map(super::server::Pending::enter);
    next.run(axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_host_must_be_an_ip_literal_localhost_or_an_allowed_name() {
        let allowed = AllowedHosts::new(&["Reconciler.Internal"]);
        let get = |host: &str| check(&Method::GET, &headers(&[("host", host)]), None, &allowed);
        for ok in [
            "127.0.0.1:9090",
            "10.0.0.7",
            "[::1]:9090",
            "[fd00::1]",
            "localhost:9090",
            "LOCALHOST",
            "reconciler.internal:9090",
            "reconciler.internal.",
        ] {
            assert_eq!(get(ok), Ok(()), "{ok}");
        }
        for refused in
            ["attacker.example:9090", "127.0.0.1.nip.io", "reconciler.internal.evil", "", ":9090", "[::1", "a:b:c"]
        {
            assert_eq!(get(refused), Err(Refusal::Host), "{refused}");
        }
        assert_eq!(check(&Method::GET, &HeaderMap::new(), None, &allowed), Err(Refusal::Host), "no Host at all");
    }

    #[test]
    fn a_command_wants_json_and_no_foreign_origin_or_cross_site_fetch() {
        let allowed = AllowedHosts::default();
        let post = |extra: &[(&'static str, &str)]| {
            let mut h = headers(&[("host", "127.0.0.1:9090"), ("content-type", "application/json")]);
            h.extend(headers(extra));
            check(&Method::POST, &h, None, &allowed)
        };
        assert_eq!(post(&[]), Ok(()), "the CLI: no Origin, no Sec-Fetch-Site");
        assert_eq!(post(&[("origin", "http://127.0.0.1:9090"), ("sec-fetch-site", "same-origin")]), Ok(()));
        assert_eq!(post(&[("content-type", "application/json; charset=utf-8")]), Ok(()));
        assert_eq!(post(&[("origin", "https://attacker.example")]), Err(Refusal::CrossOrigin));
        assert_eq!(post(&[("origin", "null")]), Err(Refusal::CrossOrigin));
        assert_eq!(post(&[("sec-fetch-site", "cross-site")]), Err(Refusal::CrossOrigin));
        assert_eq!(post(&[("sec-fetch-site", "same-site")]), Err(Refusal::CrossOrigin));
        for form in ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"] {
            assert_eq!(post(&[("content-type", form)]), Err(Refusal::ContentType), "{form}");
        }
        let get = headers(&[("host", "127.0.0.1"), ("sec-fetch-site", "cross-site")]);
        assert_eq!(check(&Method::GET, &get, None, &allowed), Ok(()), "a link from elsewhere to the page is fine");
    }
}
