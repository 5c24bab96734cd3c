//! A small HTTP(S) client (hyper + rustls, already built for the AWS SDK) for webhooks and
//! `status --server`.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

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
}

type Https = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

#[derive(Clone)]
pub struct HttpClient {
    client: Client<Https, Full<Bytes>>,
}

impl HttpClient {
    /// Trusts the system CA bundle; without one, plain http still works and https fails visibly.
    pub fn new() -> Result<Self, HttpError> {
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
        Ok(HttpClient { client: Client::builder(TokioExecutor::new()).build(https) })
    }

    /// Sends one request; returns the status and body, or an error for non-2xx.
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
        let res = tokio::time::timeout(Duration::from_secs(10), self.client.request(req))
            .await
            .map_err(|_| HttpError::Timeout)?
            .map_err(|e| HttpError::Request(redact_url(&e.to_string())))?;
        let status = res.status().as_u16();
        let bytes = res.into_body().collect().await.map_err(|e| HttpError::Request(e.to_string()))?.to_bytes();
        if !(200..300).contains(&status) {
            return Err(HttpError::Status(status));
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
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
