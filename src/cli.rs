//! Command-line arguments (clap) for every subcommand.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "lambda-reconciler",
    version,
    about = "Reconciles AWS Lambda configuration to YAML manifests (GitOps)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: Global,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Default AWS region for manifests without spec.region (else AWS_REGION / the profile).
    #[arg(long, global = true, env = "AWS_REGION")]
    pub region: Option<String>,
    /// AWS endpoint URL (for a local emulator); also read from AWS_ENDPOINT_URL.
    #[arg(long, global = true)]
    pub endpoint_url: Option<String>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Global limit on AWS control-plane calls per second (0: unlimited).
    #[arg(long, global = true, default_value_t = 10)]
    pub aws_rps: u32,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
}

/// `plan -o`: also `markdown`, for a pull request comment.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum PlanOutput {
    Text,
    Json,
    Markdown,
}

/// Which git commit the manifests are (shown in `/status`, the page, alerts and the generation
/// tag). Default: git-sync's worktree name, else the checkout's HEAD above the manifest directory.
#[derive(Debug, Args)]
pub struct RevisionArgs {
    /// The commit (or any name of it, at most 64 characters) the manifests are.
    #[arg(long)]
    pub revision: Option<String>,
    /// A file holding the revision (read again at each reload; at most 4 KiB).
    #[arg(long, conflicts_with = "revision")]
    pub revision_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// Directory of manifests (searched recursively for *.yaml / *.yml).
    #[arg(short = 'm', long = "manifests", default_value = "./manifests")]
    pub dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every manifest; exit 0 when valid, 1 when not.
    Validate {
        #[command(flatten)]
        manifests: ManifestArgs,
    },
    /// Show what apply would change.
    Plan {
        #[command(flatten)]
        manifests: ManifestArgs,
        /// Exit 0 when nothing differs, 2 when changes are pending, 1 on error.
        #[arg(long)]
        detailed_exitcode: bool,
        /// `markdown`: a summary table with what the merge will do (flags), then each function's
        /// diff in a collapsible block (for a pull request comment).
        #[arg(short = 'o', long = "output", value_enum, default_value_t = PlanOutput::Text)]
        output: PlanOutput,
    },
    /// Plan, execute and wait until converged (one shot).
    Apply {
        #[command(flatten)]
        manifests: ManifestArgs,
        #[command(flatten)]
        revision: RevisionArgs,
        #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Text)]
        output: Output,
        /// Longest wait for one function update or provisioned concurrency to become READY.
        #[arg(long, default_value = "5m", value_parser = duration_flag::<1000, 3600000>)]
        wait_timeout: Duration,
        /// Start rollouts (deployment) and return; by default apply follows each rollout to its
        /// end, printing its progress, and fails if one rolls back.
        #[arg(long)]
        no_wait: bool,
        /// How often the alarms of a rollout being followed are read.
        #[arg(long, default_value = "2s", value_parser = duration_flag::<100, 300000>)]
        alarm_poll: Duration,
    },
    /// Run the controller: watch the manifests, resync, correct or report drift, serve status.
    Run(Box<RunArgs>),
    /// Print a manifest of a function's live configuration (to adopt an existing function).
    Export {
        /// Function name or ARN.
        #[arg(long)]
        function: String,
        /// Only these aliases (repeatable); default: every alias.
        #[arg(long = "alias")]
        aliases: Vec<String>,
    },
    /// Print the JSON Schema of the manifest (for editors: yaml-language-server).
    Schema,
    /// Print the status of a running controller as a table.
    Status {
        /// Base URL of the controller's --listen address.
        #[arg(long, default_value = "http://127.0.0.1:9090")]
        server: String,
        #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Text)]
        output: Output,
        /// The bearer token of the controller's admin listener, in this file.
        #[arg(long, env = "LAMBDA_RECONCILER_ADMIN_TOKEN_FILE")]
        admin_token_file: Option<std::path::PathBuf>,
    },
    /// Set one manifest's spec.code to a new S3 object version or image (for CI): the file is
    /// edited in place (comments and layout kept), re-validated, then written atomically.
    SetCode(SetCodeArgs),
    /// Finish an alias's rollout at once: 100 % on the new version (the postTraffic hook still runs).
    Promote(OperatorArgs),
    /// Roll an alias's rollout back now; the target is then held like any rolled-back target.
    Abort(OperatorArgs),
    /// Start a rolled-back target's rollout again.
    Retry(OperatorArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["s3", "image_uri"])))]
pub struct SetCodeArgs {
    #[command(flatten)]
    pub manifests: ManifestArgs,
    /// The function: its manifest's metadata.name, or spec.functionName (name or ARN).
    #[arg(long)]
    pub function: String,
    /// The zip, s3://BUCKET/KEY (with --object-version).
    #[arg(long, requires = "object_version")]
    pub s3: Option<String>,
    /// The S3 object's version id.
    #[arg(long, requires = "s3")]
    pub object_version: Option<String>,
    /// The zip's base64 SHA-256, as Lambda reports CodeSha256 (optional, with --s3).
    #[arg(long, requires = "s3")]
    pub sha256: Option<String>,
    /// The container image, ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO@sha256:DIGEST.
    #[arg(long)]
    pub image_uri: Option<String>,
}

#[derive(Debug, Args)]
pub struct OperatorArgs {
    /// Function name (as in its manifest).
    #[arg(long)]
    pub function: String,
    /// The alias whose rollout to act on.
    #[arg(long)]
    pub alias: String,
    /// A running controller's --listen URL: the controller acts, between two reconciles of the
    /// function. Without it the command writes to AWS itself (no daemon running).
    #[arg(long)]
    pub server: Option<String>,
    /// The bearer token of the controller's admin listener, in this file (with --server).
    #[arg(long, env = "LAMBDA_RECONCILER_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub manifests: ManifestArgs,
    #[command(flatten)]
    pub revision: RevisionArgs,
    /// Every manifest is re-checked this often (±10 % jitter) to catch drift. Default: 60s; 1h
    /// with --events-queue-url, where the resync is the safety net behind the events.
    #[arg(long, value_parser = duration_flag::<100, 86400000>)]
    pub resync_interval: Option<Duration>,
    /// An SQS queue that CloudTrail events of Lambda and Application Auto Scaling reach through
    /// EventBridge (manifests/deploy/cloudformation/events.yaml): a changed function is
    /// reconciled within seconds. Repeatable (one per account-region).
    #[arg(long = "events-queue-url")]
    pub events_queue_urls: Vec<String>,
    /// Address of /healthz, /readyz, /status and /metrics (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub listen: std::net::SocketAddr,
    /// Require `Authorization: Bearer <token>` (the token in this file) on every admin endpoint
    /// but /healthz and /readyz. Without it, keep the port private.
    #[arg(long)]
    pub admin_token_file: Option<std::path::PathBuf>,
    /// A name the admin listener answers to in the Host header (a Service or ingress name),
    /// besides IP addresses and localhost; repeatable, up to 16. Other names are refused (DNS
    /// rebinding), on every endpoint but /healthz and /readyz.
    #[arg(long = "admin-allowed-host", value_parser = host_name)]
    pub admin_allowed_hosts: Vec<String>,
    /// How long a connection to the admin listener may take to send a request header (testing).
    #[arg(long, hide = true, value_parser = humantime::parse_duration)]
    pub admin_header_timeout: Option<Duration>,
    /// POST every alert as JSON (with a Slack-compatible `text`) to this URL. Never logged.
    #[arg(long, env = "LAMBDA_RECONCILER_ALERT_WEBHOOK", hide_env_values = true)]
    pub alert_webhook: Option<String>,
    /// Sign each webhook alert with HMAC-SHA256 using the secret in this file (headers
    /// x-lambda-reconciler-timestamp and x-lambda-reconciler-signature; README "Alerts").
    #[arg(long, conflicts_with = "alert_webhook_secret")]
    pub alert_webhook_secret_file: Option<std::path::PathBuf>,
    /// The signing secret itself (prefer the file). Never logged.
    #[arg(long, env = "LAMBDA_RECONCILER_ALERT_WEBHOOK_SECRET", hide_env_values = true)]
    pub alert_webhook_secret: Option<String>,
    /// Longest one webhook attempt may take, connection, headers and body included (1s to 60s;
    /// default 10s).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub alert_webhook_timeout: Option<Duration>,
    /// Publish every alert to this SNS topic.
    #[arg(long)]
    pub alert_sns_topic: Option<String>,
    /// Do everything but write: drift is reported with action `none`.
    #[arg(long)]
    pub dry_run: bool,
    /// Functions reconciled in parallel per account-region (one reconcile per function at a time).
    #[arg(long, default_value_t = 4)]
    pub max_concurrent_reconciles: usize,
    /// Quiet period that ends a burst of file events (one reload per burst).
    #[arg(long, default_value = "50ms", value_parser = duration_flag::<0, 60000>)]
    pub debounce: Duration,
    /// Longest wait for in-flight reconciles on SIGTERM/SIGINT.
    #[arg(long, default_value = "30s", value_parser = duration_flag::<0, 600000>)]
    pub shutdown_timeout: Duration,
    /// Longest wait for one function update or provisioned concurrency to become READY.
    #[arg(long, default_value = "5m", value_parser = duration_flag::<1000, 3600000>)]
    pub wait_timeout: Duration,
    /// How often the alarms of rollouts in flight are read (one DescribeAlarms per region).
    #[arg(long, default_value = "2s", value_parser = duration_flag::<100, 300000>)]
    pub alarm_poll: Duration,
    /// Run as one of several replicas: the one holding the lease in this DynamoDB table (in the
    /// default region; manifests/deploy/cloudformation/lease-table.yaml) writes, the others
    /// follow. Without it the process is the only writer.
    #[arg(long)]
    pub lease_table: Option<String>,
    /// The lease's key in the table: replicas of one installation share it.
    #[arg(long, default_value = "lambda-reconciler")]
    pub lease_name: String,
    /// How long the lease stays valid without renewal: a follower takes over after this.
    #[arg(long, default_value = "20s", value_parser = duration_flag::<1000, 3600000>)]
    pub lease_duration: Duration,
    /// How often the holder renews the lease (at most half the duration).
    #[arg(long, default_value = "5s", value_parser = duration_flag::<100, 1800000>)]
    pub lease_heartbeat: Duration,
    /// How often a follower reads the lease: a released lease (SIGTERM) is taken within this.
    #[arg(long, default_value = "1s", value_parser = duration_flag::<100, 60000>)]
    pub lease_poll: Duration,
    /// Split the account-regions across this many leases, so several replicas share the work
    /// (each holds its fair share; a lost shard is taken by another). With --lease-table.
    #[arg(long, default_value_t = 1, requires = "lease_table")]
    pub shards: usize,
    /// How long a refusal that reads as AWS catching up (an execution role's new permissions, a
    /// destination just created) is retried, every 15 s, before it is a terminal error.
    #[arg(long, default_value = "5m", value_parser = duration_flag::<0, 3600000>)]
    pub propagation_window: Duration,
}

/// The most `--admin-allowed-host` names.
pub const MAX_ALLOWED_HOSTS: usize = 16;

/// A DNS name: letters, digits, `-` and `.`, at most 253 characters.
fn host_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty() && s.len() <= 253 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    ok.then(|| s.to_string())
        .ok_or_else(|| "a host name (letters, digits, - and .; no port), at most 253 characters".into())
}

/// `Some(d)` within `[min, max]`, `None` (the default) as `default`; else why not.
pub fn within(d: Option<Duration>, default: Duration, (min, max): (Duration, Duration)) -> Result<Duration, String> {
    match d {
        None => Ok(default),
        Some(d) if d >= min && d <= max => Ok(d),
        Some(_) => Err(format!("between {} and {}", humantime::format_duration(min), humantime::format_duration(max))),
    }
}

impl RunArgs {
    /// The resync interval: as given, else 60 s, or 1 h when events report changes.
    pub fn resync(&self) -> Duration {
        let default = if self.events_queue_urls.is_empty() { 60 } else { 3600 };
        self.resync_interval.unwrap_or(Duration::from_secs(default))
    }
}

/// A clap value parser for a duration flag within `MIN_MS..=MAX_MS` milliseconds.
pub fn duration_flag<const MIN_MS: u64, const MAX_MS: u64>(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    let (min, max) = (Duration::from_millis(MIN_MS), Duration::from_millis(MAX_MS));
    if d < min || d > max {
        let show = |d: Duration| humantime::format_duration(d).to_string();
        return Err(format!("must be within {} and {}", show(min), show(max)));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_flag_outside_its_range_is_refused() {
        assert_eq!(duration_flag::<1000, 60_000>("30s"), Ok(Duration::from_secs(30)));
        assert!(duration_flag::<1000, 60_000>("3years").unwrap_err().contains("within 1s and 1m"));
        assert!(duration_flag::<1000, 60_000>("10ms").is_err());
        assert!(duration_flag::<1000, 60_000>("99999999999999999999years").is_err());
    }

    #[test]
    fn a_bounded_duration_takes_its_default_or_a_value_in_range_and_refuses_others() {
        let (s, range) = (Duration::from_secs(1), (Duration::from_secs(1), Duration::from_secs(60)));
        assert_eq!(within(None, s * 10, range), Ok(s * 10));
        assert_eq!(within(Some(s * 60), s * 10, range), Ok(s * 60));
        assert!(within(Some(s * 61), s * 10, range).is_err());
        assert!(within(Some(Duration::ZERO), s * 10, range).is_err());
    }

    #[test]
    fn an_allowed_host_is_a_plain_dns_name() {
        assert_eq!(host_name("reconciler.ops.svc"), Ok("reconciler.ops.svc".to_string()));
        for bad in ["", "host:9090", "http://host", "a b", &"x".repeat(254)] {
            assert!(host_name(bad).is_err(), "{bad}");
        }
    }
}
