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
    /// The canary judge of a `dryRun` analysis failed a step (once per step): the rollout goes on.
    JudgeFailedDryRun,
    /// A task of the daemon panicked: it stops so that its orchestrator restarts it.
    Panicked,
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
    /// The git revision of the manifests loaded when it was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// A drift: who made it (from CloudTrail), `None` when no event named them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<crate::types::ChangedBy>,
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
            changed_by: None,
            revision: None,
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
    /// Alerts queued to a sink and not yet delivered or given up (for [`Alerts::flush`]).
    pending: Arc<std::sync::atomic::AtomicUsize>,
    metrics: Arc<Metrics>,
    /// Where the latest alerts are kept for /status and the page.
    status: Arc<StatusStore>,
}

impl Alerts {
    /// Starts one task per configured sink; `status` keeps the latest alerts.
    pub fn start(metrics: Arc<Metrics>, sinks: Vec<sinks::Sink>, status: Arc<StatusStore>) -> Alerts {
        let mut senders = Vec::new();
        let pending = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for sink in sinks {
            let (tx, rx) = mpsc::channel(SINK_QUEUE);
            senders.push((sink.name(), tx));
            tokio::spawn(sinks::run(sink, rx, metrics.clone(), pending.clone()));
        }
        Alerts { sinks: senders, pending, metrics, status }
    }

    /// Waits (at most `timeout`) until every queued alert was delivered or given up: before the
    /// process exits.
    pub async fn flush(&self, timeout: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.pending.load(std::sync::atomic::Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub fn send(&self, mut alert: Alert) {
        if alert.revision.is_none() {
            alert.revision = self.status.revision();
        }
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
            self.pending.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if tx.try_send(alert.clone()).is_err() {
                self.pending.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                self.metrics.alert(name, "dropped");
            }
        }
    }
}
