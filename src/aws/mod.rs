//! The AWS edge: SDK clients narrowed to domain types, the rate limiter and retries. SDK types
//! never leave this module.

pub mod call;
pub mod cloudwatch;
pub mod lambda;
pub mod pages;
pub mod priority;
pub mod scaling;
pub mod secrets;
pub mod snapshot;
pub mod sns;
pub mod sqs;
pub mod ssm;
pub mod sts;

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
}

/// The service clients of one region.
#[derive(Clone)]
pub struct RegionClients {
    pub lambda: lambda::Lambda,
    pub alarms: cloudwatch::Alarms,
    pub scaling: scaling::Scaling,
    pub ssm: ssm::Ssm,
    pub secrets: secrets::Secrets,
}

/// All regions' clients sharing one rate limiter and one set of counters.
pub struct Aws {
    base: aws_config::SdkConfig,
    pub caller: Caller,
    stale_after: Duration,
    regions: Mutex<HashMap<String, RegionClients>>,
}

impl Aws {
    pub async fn connect(opts: &AwsOptions) -> Self {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
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
            regions: Mutex::default(),
        }
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
    pub fn events_queue(&self, url: &str) -> sqs::EventQueue {
        let host = url.split("://").nth(1).unwrap_or(url).split('/').next().unwrap_or_default();
        let labels: Vec<&str> = host.split('.').collect();
        let region = match labels.as_slice() {
            ["sqs", region, ..] | [region, "queue", ..] => Some(region.to_string()),
            _ => None,
        };
        let mut cfg = self.base.to_builder();
        if let Some(r) = region {
            cfg = cfg.region(aws_config::Region::new(r));
        }
        sqs::EventQueue::new(&cfg.build(), self.caller.clone(), url)
    }

    /// Who the daemon's credentials are (its CloudTrail events carry this ARN).
    pub async fn identity(&self) -> Result<sts::Identity, AwsError> {
        sts::identity(&self.base, &self.caller).await
    }

    /// Tells the region's snapshots what the manifests need (call after every manifest load).
    pub fn set_interest(&self, region: &str, interest: crate::types::Interest) {
        let c = self.region(region);
        c.scaling.set_interest(interest.scaling_functions);
        c.ssm.set_wanted(interest.ssm_names);
        c.secrets.set_wanted(interest.secret_refs);
    }

    /// Clients for `region`, created once.
    pub fn region(&self, region: &str) -> RegionClients {
        let mut map = self.regions.lock().unwrap();
        map.entry(region.to_string())
            .or_insert_with(|| {
                let cfg = self.base.to_builder().region(aws_config::Region::new(region.to_string())).build();
                RegionClients {
                    lambda: lambda::Lambda::new(&cfg, self.caller.clone()),
                    alarms: cloudwatch::Alarms::new(&cfg, self.caller.clone()),
                    scaling: scaling::Scaling::new(&cfg, self.caller.clone(), self.stale_after),
                    ssm: ssm::Ssm::new(&cfg, self.caller.clone(), self.stale_after),
                    secrets: secrets::Secrets::new(&cfg, self.caller.clone(), self.stale_after),
                }
            })
            .clone()
    }
}
