//! Every metric the daemon exports, defined in one place (Prometheus text format).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DriftLabels {
    pub function: String,
    pub field: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PrincipalLabel {
    pub principal_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub service: String,
    pub operation: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlertLabels {
    pub sink: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AliasLabels {
    pub function: String,
    pub region: String,
    /// The account of the manifest's `spec.roleArn`; empty: the controller's own.
    pub account: String,
    pub alias: String,
}

impl AliasLabels {
    pub fn new(key: &crate::types::FunctionKey, alias: &str) -> Self {
        AliasLabels {
            function: key.name.clone(),
            region: key.region.clone(),
            account: key.account().unwrap_or_default().to_string(),
            alias: alias.to_string(),
        }
    }
}

pub struct Metrics {
    registry: Registry,
    pub reconciles: Family<ResultLabel, Counter>,
    pub reconcile_seconds: Histogram,
    pub queue_depth: Gauge,
    pub drift: Family<DriftLabels, Counter>,
    /// Drifted fields written back (driftPolicy correct).
    pub drift_corrected: Family<DriftLabels, Counter>,
    /// Drift alerts by who made the drift: CloudTrail's principal type (never its name).
    pub drift_alerts: Family<PrincipalLabel, Counter>,
    /// Variables changed because their SSM / Secrets Manager value changed (not drift).
    pub source_changes: Counter,
    pub manifests: Family<StateLabel, Gauge>,
    pub aws_calls: Family<CallLabels, Counter>,
    pub alerts: Family<AlertLabels, Counter>,
    /// Webhook attempts by outcome (ok, http_error, timeout, body_too_large, request_error, invalid_url).
    pub webhook_deliveries: Family<OutcomeLabel, Counter>,
    pub reloads: Counter,
    pub rollouts: Family<ResultLabel, Counter>,
    /// The canary judge's Fails, by what followed (`rolled_back`, `dry_run`: reported only).
    pub judge_failures: Family<ResultLabel, Counter>,
    pub rollout_weight: Family<AliasLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// Alarm roll backs tried in one conditional UpdateAlias, by result (made, stale, failed, fenced).
    pub fast_rollbacks: Family<ResultLabel, Counter>,
    /// CloudTrail events read from the events queues, by what became of them.
    pub events: Family<ResultLabel, Counter>,
    /// 1 while this replica is the writer (holds the lease, or runs without one), else 0.
    pub leader: Gauge,
    /// Shards (`--shards`) whose lease this replica holds.
    pub shards_held: Gauge,
    /// Changes of this replica's role, by what happened (acquired, lost, released, expired).
    pub lease_transitions: Family<ResultLabel, Counter>,
    /// Unix time of the last finished reconcile (the daemon's start until the first).
    pub last_reconcile: Gauge,
    /// `--resync-interval` in seconds (the rules judge a stopped resync against it).
    pub resync_interval: Gauge,
    /// Panics in any task (the daemon stops after the first, so that it is restarted).
    pub panics: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("lambda_reconciler");
        let m = Metrics {
            reconciles: Family::default(),
            reconcile_seconds: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
            queue_depth: Gauge::default(),
            drift: Family::default(),
            drift_corrected: Family::default(),
            drift_alerts: Family::default(),
            source_changes: Counter::default(),
            manifests: Family::default(),
            aws_calls: Family::default(),
            alerts: Family::default(),
            webhook_deliveries: Family::default(),
            reloads: Counter::default(),
            rollouts: Family::default(),
            judge_failures: Family::default(),
            rollout_weight: Family::default(),
            fast_rollbacks: Family::default(),
            events: Family::default(),
            leader: Gauge::default(),
            shards_held: Gauge::default(),
            lease_transitions: Family::default(),
            last_reconcile: Gauge::default(),
            resync_interval: Gauge::default(),
            panics: Counter::default(),
            registry: Registry::default(),
        };
        registry.register("reconciles", "Reconciles by result", m.reconciles.clone());
        registry.register("reconcile_duration_seconds", "Duration of one reconcile", m.reconcile_seconds.clone());
        registry.register("queue_depth", "Functions waiting in the work queue", m.queue_depth.clone());
        registry.register("drift_detected", "Drifted fields detected, by function and field", m.drift.clone());
        registry.register(
            "drift_corrected",
            "Drifted fields written back to the manifest's value (driftPolicy correct), by function and field",
            m.drift_corrected.clone(),
        );
        registry.register(
            "drift_alerts",
            "Drift alerts by the type of principal that made the drift (IAMUser, AssumedRole, AWSService, …, Unknown without an event)",
            m.drift_alerts.clone(),
        );
        registry.register(
            "source_value_changes",
            "Variables updated because their SSM or Secrets Manager value changed (a desired change, not drift)",
            m.source_changes.clone(),
        );
        registry.register("managed_manifests", "Managed manifests by sync state", m.manifests.clone());
        registry.register("aws_api_calls", "AWS API calls by service, operation and outcome", m.aws_calls.clone());
        registry.register("alerts", "Alerts by sink and outcome (sent, failed, dropped)", m.alerts.clone());
        registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts by outcome (ok, http_error, timeout, body_too_large, request_error, invalid_url)",
            m.webhook_deliveries.clone(),
        );
        registry.register(
            "manifest_reloads",
            "Reloads of the manifest directory (one per burst of file events)",
            m.reloads.clone(),
        );
        registry.register("rollouts", "Rollouts by result (started, succeeded, rolled_back)", m.rollouts.clone());
        registry.register(
            "judge_failures",
            "Canary judge Fails by what followed (rolled_back, dry_run)",
            m.judge_failures.clone(),
        );
        registry.register(
            "rollout_weight_percent",
            "Percent of an alias's traffic on the version a rollout shifts to",
            m.rollout_weight.clone(),
        );
        registry.register(
            "fast_rollbacks",
            "Alarm roll backs tried in one conditional UpdateAlias, by result (made; stale: the alias changed since it was read; failed; fenced)",
            m.fast_rollbacks.clone(),
        );
        registry.register(
            "events",
            "CloudTrail events read from the events queues, by result (enqueued, own, unmanaged, not_relevant, failed_call, malformed)",
            m.events.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica is the writer (holds the lease, or runs without a lease table), 0 while it follows",
            m.leader.clone(),
        );
        registry.register("shards_held", "Shards (--shards) whose lease this replica holds", m.shards_held.clone());
        registry.register(
            "lease_transitions",
            "Changes of this replica's role, by result (acquired, lost, expired, released)",
            m.lease_transitions.clone(),
        );
        registry.register(
            "last_reconcile_timestamp_seconds",
            "Unix time of the last finished reconcile (the daemon's start until the first)",
            m.last_reconcile.clone(),
        );
        registry.register("resync_interval_seconds", "The --resync-interval, in seconds", m.resync_interval.clone());
        registry.register("panics", "Panics in any task (the daemon stops after the first)", m.panics.clone());
        Metrics { registry, ..m }
    }
}

impl Metrics {
    pub fn result(&self, result: &str) {
        self.reconciles.get_or_create(&ResultLabel { result: result.into() }).inc();
        self.reconciled_now();
    }

    /// Marks now as the last reconcile's end (also called at start).
    pub fn reconciled_now(&self) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        self.last_reconcile.set(now.as_secs() as i64);
    }

    pub fn aws_call(&self, op: &str, outcome: &str) {
        let (service, operation) = op.split_once(':').unwrap_or(("aws", op));
        let labels = CallLabels { service: service.into(), operation: operation.into(), outcome: outcome.into() };
        self.aws_calls.get_or_create(&labels).inc();
    }

    pub fn rollout(&self, result: &str) {
        self.rollouts.get_or_create(&ResultLabel { result: result.into() }).inc();
    }

    pub fn judge_failure(&self, result: &str) {
        self.judge_failures.get_or_create(&ResultLabel { result: result.into() }).inc();
    }

    pub fn fast_rollback(&self, result: &str) {
        self.fast_rollbacks.get_or_create(&ResultLabel { result: result.into() }).inc();
    }

    pub fn event(&self, result: &str) {
        self.events.get_or_create(&ResultLabel { result: result.into() }).inc();
    }

    pub fn lease(&self, result: &str) {
        self.lease_transitions.get_or_create(&ResultLabel { result: result.into() }).inc();
    }

    /// Counts one drift alert by its principal type (one of `types::PRINCIPAL_TYPES`).
    pub fn drift_by_principal(&self, principal_type: &str) {
        let known = crate::types::PRINCIPAL_TYPES.contains(&principal_type);
        let label = if known { principal_type } else { "Other" };
        self.drift_alerts.get_or_create(&PrincipalLabel { principal_type: label.into() }).inc();
    }

    pub fn alert(&self, sink: &str, outcome: &str) {
        self.alerts.get_or_create(&AlertLabels { sink: sink.into(), outcome: outcome.into() }).inc();
    }

    /// Counts one webhook attempt's outcome.
    pub fn webhook_delivery(&self, outcome: &str) {
        self.webhook_deliveries.get_or_create(&OutcomeLabel { outcome: outcome.into() }).inc();
    }

    /// Sets the managed-manifest gauges from `(state, count)` pairs (every state listed).
    pub fn set_states(&self, counts: &[(&str, i64)]) {
        for (state, n) in counts {
            self.manifests.get_or_create(&StateLabel { state: (*state).into() }).set(*n);
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
