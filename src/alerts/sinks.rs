//! Alert sinks: a webhook (JSON POST, Slack-compatible `text`) and an SNS topic, each drained by its own task with jittered, bounded retries.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::http::{HttpClient, HttpError};
use super::Alert;
use crate::aws::sns::Sns;
use crate::metrics::Metrics;

/// Attempts per alert and sink; with the webhook's deadline per attempt (10 s by default) and the
/// backoff between them, one alert holds its sink's queue for about a minute at most.
const ATTEMPTS: u32 = 5;

/// The header carrying the signing time (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-lambda-reconciler-timestamp";
/// The header carrying `v1=` + hex HMAC-SHA256 over `TIMESTAMP.BODY` (README "Alerts").
pub const SIGNATURE_HEADER: &str = "x-lambda-reconciler-signature";

/// The webhook signing secret (never printed: no Debug, no Display).
pub struct SigningKey(ring::hmac::Key);

impl SigningKey {
    pub fn new(secret: &str) -> SigningKey {
        SigningKey(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes()))
    }

    /// `v1=` + hex HMAC-SHA256 of `TIMESTAMP.BODY`: the timestamp is signed too, so a receiver
    /// can refuse an old delivery replayed.
    pub fn sign(&self, body: &str, timestamp: u64) -> String {
        let tag = ring::hmac::sign(&self.0, format!("{timestamp}.{body}").as_bytes());
        let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        format!("v1={hex}")
    }

    fn headers(&self, body: &str, timestamp: u64) -> Vec<(&'static str, String)> {
        vec![(TIMESTAMP_HEADER, timestamp.to_string()), (SIGNATURE_HEADER, self.sign(body, timestamp))]
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub enum Sink {
    Webhook { client: Box<HttpClient>, url: String, secret: Option<SigningKey> },
    Sns { client: Sns, topic_arn: String },
}

impl Sink {
    pub fn name(&self) -> &'static str {
        match self {
            Sink::Webhook { .. } => "webhook",
            Sink::Sns { .. } => "sns",
        }
    }

    /// One attempt; a webhook attempt's outcome is counted.
    async fn deliver(&self, alert: &Alert, metrics: &Metrics) -> Result<(), String> {
        let body = serde_json::to_string(alert).map_err(|e| e.to_string())?;
        match self {
            Sink::Webhook { client, url, secret } => {
                let headers = secret.as_ref().map(|k| k.headers(&body, now_secs())).unwrap_or_default();
                let result = client.send_with("POST", url, Some(body), &headers).await;
                metrics.webhook_delivery(result.as_ref().map_or_else(|e| e.outcome(), |_| "ok"));
                match result {
                    // A 2xx whose answer is over the cap was received: sent again, it would be
                    // a duplicate (the answer's excess is not read).
                    Ok(_) | Err(HttpError::BodyTooLarge(_)) => Ok(()),
                    Err(e) => Err(e.to_string()),
                }
            }
            Sink::Sns { client, topic_arn } => {
                let subject = format!("lambda-reconciler {:?}", alert.kind);
                client.publish(topic_arn, &subject, &body).await.map_err(|e| e.to_string())
            }
        }
    }
}

/// Delivers alerts one at a time, retrying each with backoff; never blocks the sender.
pub async fn run(
    sink: Sink,
    mut rx: mpsc::Receiver<Alert>,
    metrics: Arc<Metrics>,
    pending: Arc<std::sync::atomic::AtomicUsize>,
) {
    while let Some(alert) = rx.recv().await {
        deliver(&sink, &alert, &metrics).await;
        pending.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// One alert, retried with backoff up to [`ATTEMPTS`] times.
async fn deliver(sink: &Sink, alert: &Alert, metrics: &Metrics) {
    let mut delay = Duration::from_millis(200);
    for attempt in 1..=ATTEMPTS {
        match sink.deliver(alert, metrics).await {
            Ok(()) => {
                metrics.alert(sink.name(), "sent");
                break;
            }
            Err(e) if attempt == ATTEMPTS => {
                metrics.alert(sink.name(), "failed");
                tracing::warn!(sink = sink.name(), error = %e, attempts = ATTEMPTS, "alert delivery failed");
            }
            Err(e) => {
                tracing::debug!(sink = sink.name(), error = %e, attempt, "alert delivery retry");
                tokio::time::sleep(delay.mul_f64(0.5 + fastrand::f64())).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body_in_hex() {
        // RFC 4231 test case 2 ("Jefe"), with the message split as TIMESTAMP.BODY would be.
        let k = SigningKey::new("Jefe");
        let sig = k.sign("want nothing?", 0);
        assert_eq!(sig.len(), 3 + 64);
        let direct = ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"Jefe"), b"0.want nothing?");
        let hex: String = direct.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(sig, format!("v1={hex}"));
        let rfc =
            ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"Jefe"), b"what do ya want for nothing?");
        let rfc: String = rfc.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(rfc, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
