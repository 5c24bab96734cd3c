//! Application Auto Scaling of Lambda provisioned concurrency, narrowed to targets, the owned
//! target-tracking policy and scheduled actions.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_applicationautoscaling::types::{
    MetricType, PredefinedMetricSpecification, ScalableDimension, ScalableTargetAction, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};

use super::call::{AwsError, Caller, ErrorClass};
use super::lambda::ignore_not_found;
use super::pages;
use super::snapshot::{Decision, Freshness};
use crate::types::{Policy, ScalingState, Scheduled, TargetTracking};

const NS: ServiceNamespace = ServiceNamespace::Lambda;
const DIM: ScalableDimension = ScalableDimension::LambdaFunctionProvisionedConcurrency;

/// `function:NAME:ALIAS`, the resource id of an alias's provisioned concurrency.
pub fn resource_id(function: &str, alias: &str) -> String {
    format!("function:{function}:{alias}")
}

fn build_error(operation: &'static str, e: impl std::fmt::Display) -> AwsError {
    AwsError { operation, code: "BuildError".into(), message: e.to_string(), status: None, class: ErrorClass::Terminal }
}

/// From this many managed functions with autoscaling in a region, their state is read from one
/// region-wide snapshot (paginated Describe calls: about 0.14 calls a target) instead of per
/// function (1 + 2 calls an alias). Below it a large account's snapshot could cost more.
pub const SNAPSHOT_MIN_FUNCTIONS: usize = 10;

/// The page sizes AWS allows ("between 1 and 50" / "between 1 and 10" / "between 1 and 50").
const TARGETS_PAGE: i32 = 50;
const POLICIES_PAGE: i32 = 10;
const ACTIONS_PAGE: i32 = 50;
/// DescribeScalableTargets' ResourceIds list holds at most 50 ids (the API model's list bound).
const RESOURCE_IDS_MAX: usize = 50;

/// The function name in `function:NAME:ALIAS`.
fn function_of(id: &str) -> &str {
    id.split(':').nth(1).unwrap_or(id)
}

struct Cache {
    fresh: Freshness,
    targets: BTreeMap<String, ScalingState>,
}

#[derive(Clone)]
pub struct Scaling {
    client: aws_sdk_applicationautoscaling::Client,
    caller: Caller,
    cache: Arc<tokio::sync::Mutex<Cache>>,
    /// Function name → when one of its targets last changed: written by this process, or
    /// changed by someone else as a CloudTrail event told ([`Scaling::changed_elsewhere`]).
    wrote: Arc<Mutex<HashMap<String, Instant>>>,
    interest: Arc<AtomicUsize>,
}

impl Scaling {
    pub fn new(config: &aws_config::SdkConfig, caller: Caller, stale_after: Duration) -> Self {
        Scaling {
            client: aws_sdk_applicationautoscaling::Client::from_conf(
                aws_sdk_applicationautoscaling::config::Builder::from(config)
                    .interceptor(caller.fence.interceptor())
                    .build(),
            ),
            caller,
            cache: Arc::new(tokio::sync::Mutex::new(Cache {
                fresh: Freshness::new(stale_after),
                targets: BTreeMap::new(),
            })),
            wrote: Arc::default(),
            interest: Arc::default(),
        }
    }

    /// How many managed functions of this region have autoscaling (decides snapshot or direct).
    pub fn set_interest(&self, functions: usize) {
        self.interest.store(functions, Ordering::Relaxed);
    }

    /// A CloudTrail event says `function`'s targets changed: its next read skips the snapshot.
    pub fn changed_elsewhere(&self, function: &str) {
        self.wrote.lock().unwrap().insert(function.to_string(), Instant::now());
    }

    fn wrote_to(&self, id: &str) {
        self.wrote.lock().unwrap().insert(function_of(id).to_string(), Instant::now());
    }

    /// The targets among `ids` (all of `function`), from the region snapshot when it serves.
    pub async fn read_for(&self, function: &str, ids: &[String]) -> Result<BTreeMap<String, ScalingState>, AwsError> {
        if ids.is_empty() || self.interest.load(Ordering::Relaxed) < SNAPSHOT_MIN_FUNCTIONS {
            return self.read(ids).await;
        }
        let wrote = self.wrote.lock().unwrap().get(function).copied();
        if super::priority::is_urgent() {
            // Urgent work never waits for a refresh: the snapshot when it serves, else its own targets.
            if let Ok(mut cache) = self.cache.try_lock() {
                if cache.fresh.decide(function, wrote) == Decision::Use {
                    return Ok(ids
                        .iter()
                        .filter_map(|id| cache.targets.get(id).map(|s| (id.clone(), s.clone())))
                        .collect());
                }
            }
            return self.read(ids).await;
        }
        let mut cache = self.cache.lock().await;
        match cache.fresh.decide(function, wrote) {
            Decision::Use => {}
            Decision::Direct => {
                drop(cache);
                return self.read(ids).await;
            }
            Decision::Refresh => {
                let started = Instant::now();
                // Shared work: every function (an edit's too) waits on this lock; the caller of
                // this layer decides how urgent that is (`Caller::run_shared_work_urgently`).
                cache.targets = self.caller.shared(self.read_all()).await?;
                cache.fresh.refreshed(started, function);
            }
        }
        Ok(ids.iter().filter_map(|id| cache.targets.get(id).map(|s| (id.clone(), s.clone()))).collect())
    }

    /// Every Lambda provisioned-concurrency target of the region with its policies and actions.
    async fn read_all(&self) -> Result<BTreeMap<String, ScalingState>, AwsError> {
        let mut out = self.targets(None).await?;
        for (id, policy) in self.policies(None).await? {
            if let Some(s) = out.get_mut(&id) {
                s.policies.push(policy);
            }
        }
        for (id, action) in self.scheduled_actions(None).await? {
            if let Some(s) = out.get_mut(&id) {
                s.scheduled_actions.push(action);
            }
        }
        tracing::debug!(targets = out.len(), "read the region's autoscaling snapshot");
        Ok(out)
    }

    /// Reads the scalable targets among `ids`, with their policies and scheduled actions.
    pub async fn read(&self, ids: &[String]) -> Result<BTreeMap<String, ScalingState>, AwsError> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut out = self.targets(Some(ids)).await?;
        for (id, state) in out.iter_mut() {
            state.policies = self.policies(Some(id)).await?.into_iter().map(|(_, p)| p).collect();
            state.scheduled_actions = self.scheduled_actions(Some(id)).await?.into_iter().map(|(_, a)| a).collect();
        }
        Ok(out)
    }

    /// The targets among `ids`, or every Lambda target of the region (policies not filled in).
    ///
    /// AWS (DescribeScalableTargets, ScalableDimension): "If you specify a scalable dimension, you
    /// must also specify a resource ID." So the region-wide read names the namespace only and
    /// keeps provisioned-concurrency targets here; ResourceIds takes at most 50 ids a request.
    async fn targets(&self, ids: Option<&[String]>) -> Result<BTreeMap<String, ScalingState>, AwsError> {
        const OP: &str = "autoscaling:DescribeScalableTargets";
        let mut out = BTreeMap::new();
        let chunks: Vec<Option<Vec<String>>> = match ids {
            Some(ids) => ids.chunks(RESOURCE_IDS_MAX).map(|c| Some(c.to_vec())).collect(),
            None => vec![None],
        };
        for chunk in chunks {
            let targets = pages::all(OP, |token| {
                let chunk = chunk.clone();
                async move {
                    let page = self
                        .caller
                        .call(OP, || {
                            self.client
                                .describe_scalable_targets()
                                .service_namespace(NS)
                                .set_scalable_dimension(chunk.as_ref().map(|_| DIM))
                                .set_resource_ids(chunk.clone())
                                .max_results(TARGETS_PAGE)
                                .set_next_token(token.clone())
                                .send()
                        })
                        .await?;
                    let items = page
                        .scalable_targets()
                        .iter()
                        .filter(|t| t.scalable_dimension() == &DIM)
                        .map(|t| {
                            let state = ScalingState {
                                min_capacity: t.min_capacity().into(),
                                max_capacity: t.max_capacity().into(),
                                policies: vec![],
                                scheduled_actions: vec![],
                            };
                            (t.resource_id().to_string(), state)
                        })
                        .collect::<Vec<_>>();
                    Ok((items, page.next_token().map(str::to_string)))
                }
            })
            .await?;
            out.extend(targets);
        }
        Ok(out)
    }

    /// (resource id, policy) of one target, or of every Lambda target of the region (the
    /// dimension is sent only with a resource id, as for targets).
    async fn policies(&self, id: Option<&str>) -> Result<Vec<(String, Policy)>, AwsError> {
        const OP: &str = "autoscaling:DescribeScalingPolicies";
        pages::all(OP, |token| async move {
            let page = self
                .caller
                .call(OP, || {
                    self.client
                        .describe_scaling_policies()
                        .service_namespace(NS)
                        .set_scalable_dimension(id.map(|_| DIM))
                        .set_resource_id(id.map(str::to_string))
                        .max_results(POLICIES_PAGE)
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            let items = page
                .scaling_policies()
                .iter()
                .filter(|p| p.scalable_dimension() == &DIM)
                .map(|p| {
                    let tt = p.target_tracking_scaling_policy_configuration();
                    let on_utilization = tt.and_then(|c| c.predefined_metric_specification()).is_some_and(|m| {
                        m.predefined_metric_type() == &MetricType::LambdaProvisionedConcurrencyUtilization
                    });
                    let tracking = tt.filter(|_| on_utilization).map(|c| TargetTracking {
                        target_utilization: c.target_value(),
                        scale_in_cooldown: c.scale_in_cooldown().map_or(0, i64::from),
                        scale_out_cooldown: c.scale_out_cooldown().map_or(0, i64::from),
                        disable_scale_in: c.disable_scale_in().unwrap_or(false),
                    });
                    let policy = Policy { name: p.policy_name().to_string(), tracking };
                    (p.resource_id().to_string(), policy)
                })
                .collect();
            Ok((items, page.next_token().map(str::to_string)))
        })
        .await
    }

    /// (resource id, action) of one target, or of every Lambda target of the region.
    async fn scheduled_actions(&self, id: Option<&str>) -> Result<Vec<(String, Scheduled)>, AwsError> {
        const OP: &str = "autoscaling:DescribeScheduledActions";
        pages::all(OP, |token| async move {
            let page = self
                .caller
                .call(OP, || {
                    self.client
                        .describe_scheduled_actions()
                        .service_namespace(NS)
                        .set_scalable_dimension(id.map(|_| DIM))
                        .set_resource_id(id.map(str::to_string))
                        .max_results(ACTIONS_PAGE)
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            let items = page
                .scheduled_actions()
                .iter()
                .filter(|a| a.scalable_dimension() == Some(&DIM))
                .map(|a| {
                    let action = a.scalable_target_action();
                    let scheduled = Scheduled {
                        name: a.scheduled_action_name().to_string(),
                        schedule: a.schedule().to_string(),
                        min_capacity: action.and_then(|x| x.min_capacity()).map(i64::from),
                        max_capacity: action.and_then(|x| x.max_capacity()).map(i64::from),
                        timezone: crate::types::timezone(a.timezone()),
                        start_time: a.start_time().map(|t| t.secs()),
                        end_time: a.end_time().map(|t| t.secs()),
                    };
                    (a.resource_id().to_string(), scheduled)
                })
                .collect();
            Ok((items, page.next_token().map(str::to_string)))
        })
        .await
    }

    pub async fn register(&self, id: &str, min: i64, max: i64) -> Result<(), AwsError> {
        self.wrote_to(id);
        self.caller
            .call("autoscaling:RegisterScalableTarget", || {
                self.client
                    .register_scalable_target()
                    .service_namespace(NS)
                    .scalable_dimension(DIM)
                    .resource_id(id)
                    .min_capacity(min as i32)
                    .max_capacity(max as i32)
                    .send()
            })
            .await
            .map(drop)
    }

    /// Deregistering a target also removes its policies and scheduled actions.
    pub async fn deregister(&self, id: &str) -> Result<(), AwsError> {
        self.wrote_to(id);
        let res = self
            .caller
            .call("autoscaling:DeregisterScalableTarget", || {
                self.client
                    .deregister_scalable_target()
                    .service_namespace(NS)
                    .scalable_dimension(DIM)
                    .resource_id(id)
                    .send()
            })
            .await;
        ignore_not_found(res.map(drop))
    }

    /// PutScalingPolicy with the whole target-tracking configuration (every field sent).
    pub async fn put_target_tracking(&self, id: &str, name: &str, t: &TargetTracking) -> Result<(), AwsError> {
        self.wrote_to(id);
        const OP: &str = "autoscaling:PutScalingPolicy";
        let metric = PredefinedMetricSpecification::builder()
            .predefined_metric_type(MetricType::LambdaProvisionedConcurrencyUtilization)
            .build()
            .map_err(|e| build_error(OP, e))?;
        let cfg = TargetTrackingScalingPolicyConfiguration::builder()
            .target_value(t.target_utilization)
            .scale_in_cooldown(i32::try_from(t.scale_in_cooldown).unwrap_or(i32::MAX))
            .scale_out_cooldown(i32::try_from(t.scale_out_cooldown).unwrap_or(i32::MAX))
            .disable_scale_in(t.disable_scale_in)
            .predefined_metric_specification(metric)
            .build()
            .map_err(|e| build_error(OP, e))?;
        self.caller
            .call(OP, || {
                self.client
                    .put_scaling_policy()
                    .policy_name(name)
                    .service_namespace(NS)
                    .scalable_dimension(DIM)
                    .resource_id(id)
                    .policy_type(aws_sdk_applicationautoscaling::types::PolicyType::TargetTrackingScaling)
                    .target_tracking_scaling_policy_configuration(cfg.clone())
                    .send()
            })
            .await
            .map(drop)
    }

    pub async fn delete_policy(&self, id: &str, name: &str) -> Result<(), AwsError> {
        self.wrote_to(id);
        let res = self
            .caller
            .call("autoscaling:DeleteScalingPolicy", || {
                self.client
                    .delete_scaling_policy()
                    .policy_name(name)
                    .service_namespace(NS)
                    .scalable_dimension(DIM)
                    .resource_id(id)
                    .send()
            })
            .await;
        ignore_not_found(res.map(drop))
    }

    pub async fn put_scheduled_action(&self, id: &str, a: &Scheduled) -> Result<(), AwsError> {
        self.wrote_to(id);
        let action = ScalableTargetAction::builder()
            .set_min_capacity(a.min_capacity.map(|v| v as i32))
            .set_max_capacity(a.max_capacity.map(|v| v as i32))
            .build();
        self.caller
            .call("autoscaling:PutScheduledAction", || {
                self.client
                    .put_scheduled_action()
                    .service_namespace(NS)
                    .scalable_dimension(DIM)
                    .resource_id(id)
                    .scheduled_action_name(&a.name)
                    .schedule(&a.schedule)
                    // The whole action every time: an omitted time zone would keep the old one.
                    .timezone(a.timezone.as_deref().unwrap_or("Etc/UTC"))
                    .set_start_time(a.start_time.map(aws_smithy_types::DateTime::from_secs))
                    .set_end_time(a.end_time.map(aws_smithy_types::DateTime::from_secs))
                    .scalable_target_action(action.clone())
                    .send()
            })
            .await
            .map(drop)
    }

    pub async fn delete_scheduled_action(&self, id: &str, name: &str) -> Result<(), AwsError> {
        self.wrote_to(id);
        let res = self
            .caller
            .call("autoscaling:DeleteScheduledAction", || {
                self.client
                    .delete_scheduled_action()
                    .service_namespace(NS)
                    .scalable_dimension(DIM)
                    .resource_id(id)
                    .scheduled_action_name(name)
                    .send()
            })
            .await;
        ignore_not_found(res.map(drop))
    }
}
