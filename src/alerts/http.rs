//! A small HTTP(S) client (hyper + rustls, already built for the AWS SDK) for webhooks and
//! `status --server`.

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// What one request may cost: one deadline over connection, headers and body, and the most
/// response body read.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub deadline: Duration,
    pub max_body: usize,
}

/// The default deadline of one webhook attempt (`--alert-webhook-timeout`).
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// The shortest and longest `--alert-webhook-timeout`.
pub const WEBHOOK_TIMEOUT_RANGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(60));

/// A webhook's answer is not used: 4 KiB of it at most is read.
pub const WEBHOOK: Limits = Limits { deadline: WEBHOOK_TIMEOUT, max_body: 4 * 1024 };

/// One page of a controller's `/status` (`status --server`; at most 500 entries of bounded
/// size) or a rollout command's answer: 16 MiB at most, within 30 s.
pub const ADMIN: Limits = Limits { deadline: Duration::from_secs(30), max_body: 16 * 1024 * 1024 };

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("invalid URL")]
    Url,
    #[error("request failed: {0}")]
    Request(String),
    #[error("timed out")]
    Timeout,
    #[error("HTTP {0}")]
    Status(u16),
    #[error("the answer is over {0} bytes")]
    BodyTooLarge(usize),
}

impl HttpError {
    /// The attempt's outcome as `lambda_reconciler_webhook_deliveries_total` counts it.
    pub fn outcome(&self) -> &'static str {
        match self {
            HttpError::Url => "invalid_url",
            HttpError::Request(_) => "request_error",
            HttpError::Timeout => "timeout",
            HttpError::Status(_) => "http_error",
            HttpError::BodyTooLarge(_) => "body_too_large",
        }
    }
}

type Https = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

#[derive(Clone)]
pub struct HttpClient {
    client: Client<Https, Full<Bytes>>,
    limits: Limits,
}

impl HttpClient {
    /// Trusts the system CA bundle; without one, plain http still works and https fails visibly.
    pub fn new(limits: Limits) -> Result<Self, HttpError> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        let tls = rustls::ClientConfig::builder_with_provider(rustls::crypto::ring::default_provider().into())
            .with_safe_default_protocol_versions()
            .map_err(|e| HttpError::Request(format!("TLS setup: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let https =
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().build();
        Ok(HttpClient { client: Client::builder(TokioExecutor::new()).build(https), limits })
    }

    /// Sends one request; returns the body of a 2xx answer, else an error. The whole exchange
    /// has one deadline and the body read is capped ([`Limits`]).
    pub async fn send(&self, method: &str, url: &str, body: Option<String>) -> Result<String, HttpError> {
        self.send_with(method, url, body, &[]).await
    }

    /// [`HttpClient::send`] with extra headers.
    pub async fn send_with(
        &self,
        method: &str,
        url: &str,
        body: Option<String>,
        headers: &[(&str, String)],
    ) -> Result<String, HttpError> {
        let uri: hyper::Uri = url.parse().map_err(|_| HttpError::Url)?;
        let mut req = hyper::Request::builder().method(method).uri(uri);
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let req = req.body(Full::new(Bytes::from(body.unwrap_or_default()))).map_err(|_| HttpError::Url)?;
        let max = self.limits.max_body;
        let exchange = async {
            let res = self.client.request(req).await.map_err(|e| HttpError::Request(redact_url(&e.to_string())))?;
            let status = res.status().as_u16();
            if !(200..300).contains(&status) {
                return Err(HttpError::Status(status));
            }
            let body = Limited::new(res.into_body(), max).collect().await.map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    HttpError::BodyTooLarge(max)
                } else {
                    HttpError::Request(e.to_string())
                }
            })?;
            Ok(String::from_utf8_lossy(&body.to_bytes()).into_owned())
        };
        tokio::time::timeout(self.limits.deadline, exchange).await.map_err(|_| HttpError::Timeout)?
    }
}

/// Webhook URLs carry tokens in their path: never print more than scheme and host.
pub fn redact_url(s: &str) -> String {
    s.split_whitespace()
        .map(|w| match w.find("://") {
            Some(i) => {
                let rest = &w[i + 3..];
                let host = rest.split('/').next().unwrap_or("");
                format!("{}://{host}/…", &w[..i])
            }
            None => w.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}
