//! Alert events (drift, apply failure, terminal error, rejected manifest) and their fan-out to
//! sinks: a WARN log event always, a webhook and an SNS topic when configured. Sending never
//! blocks reconciliation: each sink has a bounded queue and its own retrying task.

pub mod http;
pub mod sinks;

use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::status::{rfc3339, AlertView, StatusStore};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AlertKind {
    Drift,
    ApplyFailed,
    TerminalError,
    ManifestRejected,
    ManifestsUnavailable,
    AwsUnreachable,
    /// A rollout rolled back (an alarm, a hook, an operator's abort); the message says which.
    RolledBack,
}

/// One alert. Values are already redacted (`(sensitive)`) by the planner.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub kind: AlertKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub time: String,
    /// One-line summary (Slack-compatible incoming webhooks render `text`).
    pub text: String,
}

impl Alert {
    pub fn new(kind: AlertKind, text: String) -> Alert {
        Alert {
            kind,
            manifest: None,
            function: None,
            region: None,
            qualifier: None,
            field: None,
            desired: None,
            actual: None,
            action: None,
            message: None,
            time: rfc3339(SystemTime::now()),
            text,
        }
    }
}

/// Queue length per sink; when full, alerts to that sink are dropped and counted.
const SINK_QUEUE: usize = 1024;

/// Where alerts go.
#[derive(Clone)]
pub struct Alerts {
    sinks: Vec<(&'static str, mpsc::Sender<Alert>)>,
    metrics: Arc<Metrics>,
    /// Where the latest alerts are kept for /status and the page.
    status: Arc<StatusStore>,
}

impl Alerts {
    /// Starts one task per configured sink; `status` keeps the latest alerts.
    pub fn start(metrics: Arc<Metrics>, sinks: Vec<sinks::Sink>, status: Arc<StatusStore>) -> Alerts {
        let mut senders = Vec::new();
        for sink in sinks {
            let (tx, rx) = mpsc::channel(SINK_QUEUE);
            senders.push((sink.name(), tx));
            tokio::spawn(sinks::run(sink, rx, metrics.clone()));
        }
        Alerts { sinks: senders, metrics, status }
    }

    pub fn send(&self, alert: Alert) {
        tracing::warn!(
            alert = ?alert.kind,
            manifest = alert.manifest.as_deref().unwrap_or(""),
            function = alert.function.as_deref().unwrap_or(""),
            field = alert.field.as_deref().unwrap_or(""),
            action = alert.action.as_deref().unwrap_or(""),
            text = %alert.text,
            "alert"
        );
        self.metrics.alert("log", "sent");
        self.status.push_alert(AlertView {
            time: alert.time.clone(),
            kind: format!("{:?}", alert.kind),
            manifest: alert.manifest.clone(),
            text: alert.text.clone(),
        });
        for (name, tx) in &self.sinks {
            if tx.try_send(alert.clone()).is_err() {
                self.metrics.alert(name, "dropped");
            }
        }
    }
}
