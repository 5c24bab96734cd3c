//! The AWS edge: SDK clients narrowed to domain types, the rate limiter and retries. SDK types
//! never leave this module.

pub mod bucket;
pub mod call;
pub mod cloudwatch;
pub mod fence;
pub mod lambda;
pub mod lease;
pub mod ledger;
pub mod metrics;
mod metrics_extra;
pub mod pages;
pub mod peers;
pub mod priority;
pub mod roles;
pub mod scaling;
pub mod secrets;
pub mod snapshot;
pub mod sns;
pub mod sqs;
pub mod ssm;
pub mod sts;
pub mod values;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

pub use call::{AwsError, CallStats, Caller, ErrorClass, RetryPolicy};

/// Where and how to reach AWS.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub rps: u32,
    /// A function that already used a region snapshot (autoscaling, SSM) and asks again after
    /// this long gets a fresh one; `None`: one snapshot per process (one-shot commands).
    pub snapshot_stale_after: Option<Duration>,
    /// Whether writes may be sent now, per shard (open without a lease table).
    pub fences: fence::Fences,
}

pub use roles::session_name;

/// The account of an SQS queue URL (`https://HOST/ACCOUNT/NAME`).
pub fn queue_account(url: &str) -> &str {
    url.split("://").nth(1).unwrap_or(url).split('/').nth(1).unwrap_or_default()
}

/// The region of an SQS queue URL, from its host name (`sqs.REGION.amazonaws.com`, or the legacy
/// `REGION.queue.amazonaws.com`); `None` for another host (an emulator).
pub fn queue_region(url: &str) -> Option<String> {
    let host = url.split("://").nth(1).unwrap_or(url).split('/').next().unwrap_or_default();
    let labels: Vec<&str> = host.split('.').collect();
    match labels.as_slice() {
        ["sqs", region, ..] | [region, "queue", ..] => Some(region.to_string()),
        _ => None,
    }
}

/// The service clients of one account-region (one set of credentials, one region), with their
/// own rate limiter.
#[derive(Clone)]
pub struct RegionClients {
    pub caller: Caller,
    pub lambda: lambda::Lambda,
    pub alarms: cloudwatch::Alarms,
    pub metrics: metrics::Metrics,
    pub scaling: scaling::Scaling,
    pub ssm: ssm::Ssm,
    pub secrets: secrets::Secrets,
}

/// Every account-region's clients: one rate limiter and one set of snapshots per account-region
/// (Lambda's quotas are per account and region), one set of counters for the process.
pub struct Aws {
    base: aws_config::SdkConfig,
    /// The process-wide caller: alert sinks, identity and events queues (not Lambda's quotas).
    pub caller: Caller,
    stale_after: Duration,
    scopes: Mutex<HashMap<(Option<String>, String), RegionClients>>,
    /// (account of the role, `None` for the controller's own; region) → its caller: two roles in
    /// one account share that account-region's limiter.
    callers: Mutex<HashMap<(Option<String>, String), Caller>>,
    /// Role ARN → configuration whose credentials come from assuming it (cached, refreshed
    /// before they expire by the SDK's identity cache).
    roles: Mutex<HashMap<String, aws_config::SdkConfig>>,
    fences: fence::Fences,
    /// The reads of release members (`read_release`).
    pub peers: peers::PeerReads,
    /// The HTTP client of rollout hook invocations: TCP keepalive on its sockets.
    hook_http: aws_smithy_runtime_api::client::http::SharedHttpClient,
}

/// Idle time before a hook invocation's socket sends TCP keepalive probes (then every 75 s, the
/// kernel's interval): a synchronous Invoke may wait up to 15 minutes for its answer, and NAT
/// gateways drop a connection idle for 350 s ("Troubleshoot NAT gateways": idle timeout).
pub const HOOK_KEEPALIVE: Duration = Duration::from_secs(60);

/// An HTTPS client whose sockets have TCP keepalive after [`HOOK_KEEPALIVE`] idle (the SDK's
/// default connector sets none); the default client where the pool cannot be built.
fn keepalive_http(
    fallback: &aws_smithy_runtime_api::client::http::SharedHttpClient,
) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::{pool, tls};
    let built = pool::Builder::default()
        .tcp_keepalive(HOOK_KEEPALIVE)
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https()
        .map_err(|e| e.to_string())
        .and_then(|p| pool::Client::new(&p).map_err(|e| e.to_string()));
    match built {
        Ok(client) => aws_smithy_runtime_api::client::http::SharedHttpClient::new(client),
        Err(e) => {
            tracing::warn!(error = %e, "no keepalive client for rollout hooks; using the default");
            fallback.clone()
        }
    }
}

impl Aws {
    pub async fn connect(opts: &AwsOptions) -> Self {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let hook_http = keepalive_http(&http);
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http)
            .retry_config(aws_config::retry::RetryConfig::disabled());
        if let Some(r) = &opts.region {
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        if let Some(e) = &opts.endpoint_url {
            loader = loader.endpoint_url(e);
        }
        let base = loader.load().await;
        Aws {
            base,
            caller: Caller::new(opts.rps, RetryPolicy::default()),
            stale_after: opts.snapshot_stale_after.unwrap_or(Duration::MAX),
            scopes: Mutex::default(),
            callers: Mutex::default(),
            roles: Mutex::default(),
            fences: opts.fences.clone(),
            hook_http,
            peers: peers::PeerReads::default(),
        }
    }

    /// The lease table `table` in the default region, with the controller's own credentials. Its
    /// calls are counted with the others but pass no Lambda rate limiter, retry briefly (a
    /// renewal that cannot be made in time is retried at the next tick) and time out after
    /// `timeout`, so an unreachable DynamoDB cannot hold a renewal past the lease.
    pub fn lease_table(&self, table: &str, timeout: Duration) -> lease::LeaseTable {
        let retry = RetryPolicy { max_attempts: 3, base: Duration::from_millis(100), cap: Duration::from_millis(400) };
        let mut caller = Caller::new(0, retry);
        caller.stats = self.caller.stats.clone();
        let timeouts = aws_config::timeout::TimeoutConfig::builder().operation_attempt_timeout(timeout).build();
        let cfg = self.base.to_builder().timeout_config(timeouts).build();
        lease::LeaseTable::new(&cfg, caller, table)
    }

    /// The configured default region (from flags, environment or profile).
    pub fn default_region(&self) -> Option<String> {
        self.base.region().map(|r| r.to_string())
    }

    /// An SNS client for the region of `topic_arn` (or the default region).
    pub fn sns(&self, topic_arn: &str) -> sns::Sns {
        let region =
            topic_arn.split(':').nth(3).filter(|r| !r.is_empty()).map(str::to_string).or_else(|| self.default_region());
        let mut cfg = self.base.to_builder();
        if let Some(r) = region {
            cfg = cfg.region(aws_config::Region::new(r));
        }
        sns::Sns::new(&cfg.build(), self.caller.clone())
    }

    /// The events queue at `url`, read in the queue's region (from its host name,
    /// `sqs.REGION.amazonaws.com`; else the default region).
    pub fn events_queue(&self, url: &str, role: Option<&str>) -> sqs::EventQueue {
        let region = queue_region(url);
        let mut cfg = self.config(role).to_builder();
        if let Some(r) = region {
            cfg = cfg.region(aws_config::Region::new(r));
        }
        sqs::EventQueue::new(&cfg.build(), self.caller.clone(), url)
    }

    /// Who the controller is with its own credentials (its CloudTrail events carry this ARN).
    pub async fn identity(&self) -> Result<sts::Identity, AwsError> {
        sts::identity(&self.base, &self.caller).await
    }

    /// The configuration of the controller's own credentials, or of `role`'s.
    fn config(&self, role: Option<&str>) -> aws_config::SdkConfig {
        let Some(role) = role else { return self.base.clone() };
        let mut roles = self.roles.lock().unwrap();
        roles
            .entry(role.to_string())
            .or_insert_with(|| {
                let builder = aws_config::sts::AssumeRoleProvider::builder(role)
                    .session_name(session_name())
                    .configure(&self.base)
                    .build();
                // With a configuration given, `build` awaits nothing (it only assembles the STS
                // request), so it completes on the first poll.
                let inner = futures::executor::block_on(builder);
                let provider = roles::RoleCredentials { role: role.to_string(), inner };
                self.base
                    .to_builder()
                    .credentials_provider(aws_sdk_sts::config::SharedCredentialsProvider::new(provider))
                    .build()
            })
            .clone()
    }

    /// Tells an account-region's snapshots what the manifests need (call after every load).
    pub fn set_interest(&self, role: Option<&str>, region: &str, interest: crate::types::Interest) {
        let c = self.clients(role, region);
        c.scaling.set_interest(interest.scaling_functions);
        c.ssm.set_wanted(interest.ssm_names);
        c.secrets.set_wanted(interest.secret_refs);
    }

    /// Forgets what the manifests needed of every scope outside `keep` (its last manifest is
    /// gone): its snapshots keep no value (a secret) for manifests that no longer exist.
    pub fn keep_interest(&self, keep: &std::collections::BTreeSet<crate::types::Scope>) {
        let gone: Vec<crate::types::Scope> =
            self.scopes.lock().unwrap().keys().filter(|s| !keep.contains(*s)).cloned().collect();
        for (role, region) in gone {
            self.set_interest(role.as_deref(), &region, crate::types::Interest::default());
        }
    }

    /// Clients for `region` with the controller's own credentials.
    pub fn region(&self, region: &str) -> RegionClients {
        self.clients(None, region)
    }

    /// Clients for `region` reached through `role` (`None`: the controller's own credentials),
    /// created once, with a rate limiter of their own.
    pub fn clients(&self, role: Option<&str>, region: &str) -> RegionClients {
        let scope = (role.map(str::to_string), region.to_string());
        if let Some(c) = self.scopes.lock().unwrap().get(&scope) {
            return c.clone();
        }
        let cfg = self.config(role).to_builder().region(aws_config::Region::new(region.to_string())).build();
        let account = role.and_then(|r| r.split(':').nth(4)).map(str::to_string);
        let fence = self.fences.for_scope(account.as_deref(), region);
        let caller = (self.callers.lock().unwrap())
            .entry((account, region.to_string()))
            .or_insert_with(|| {
                let mut c = self.caller.sibling();
                c.fence = fence;
                c
            })
            .clone();
        let made = RegionClients {
            lambda: lambda::Lambda::new(&cfg, caller.clone(), &self.hook_http),
            alarms: cloudwatch::Alarms::new(&cfg, caller.clone()),
            metrics: metrics::Metrics::new(&cfg, caller.clone()),
            scaling: scaling::Scaling::new(&cfg, caller.clone(), self.stale_after),
            ssm: ssm::Ssm::new(&cfg, caller.clone(), self.stale_after),
            secrets: secrets::Secrets::new(&cfg, caller.clone(), self.stale_after),
            caller,
        };
        self.scopes.lock().unwrap().entry(scope).or_insert(made).clone()
    }
}
