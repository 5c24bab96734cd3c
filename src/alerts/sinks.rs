//! Alert sinks: a webhook (JSON POST, Slack-compatible `text`) and an SNS topic, each drained
//! by its own task with jittered retries.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::http::HttpClient;
use super::Alert;
use crate::aws::sns::Sns;
use crate::metrics::Metrics;

const ATTEMPTS: u32 = 5;

pub enum Sink {
    Webhook { client: Box<HttpClient>, url: String },
    Sns { client: Sns, topic_arn: String },
}

impl Sink {
    pub fn name(&self) -> &'static str {
        match self {
            Sink::Webhook { .. } => "webhook",
            Sink::Sns { .. } => "sns",
        }
    }

    async fn deliver(&self, alert: &Alert) -> Result<(), String> {
        let body = serde_json::to_string(alert).map_err(|e| e.to_string())?;
        match self {
            Sink::Webhook { client, url } => {
                client.send("POST", url, Some(body)).await.map(drop).map_err(|e| e.to_string())
            }
            Sink::Sns { client, topic_arn } => {
                let subject = format!("lambda-reconciler {:?}", alert.kind);
                client.publish(topic_arn, &subject, &body).await.map_err(|e| e.to_string())
            }
        }
    }
}

/// Delivers alerts one at a time, retrying each with backoff; never blocks the sender.
pub async fn run(sink: Sink, mut rx: mpsc::Receiver<Alert>, metrics: Arc<Metrics>) {
    while let Some(alert) = rx.recv().await {
        let mut delay = Duration::from_millis(200);
        for attempt in 1..=ATTEMPTS {
            match sink.deliver(&alert).await {
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
}
