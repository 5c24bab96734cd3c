//! Application Auto Scaling of Lambda provisioned concurrency, narrowed to targets, the owned
//! target-tracking policy and scheduled actions.

use std::collections::BTreeMap;

use aws_sdk_applicationautoscaling::types::{
    MetricType, PredefinedMetricSpecification, ScalableDimension, ScalableTargetAction, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};

use super::call::{AwsError, Caller, ErrorClass};
use super::lambda::ignore_not_found;
use crate::types::{Policy, ScalingState, Scheduled};

const NS: ServiceNamespace = ServiceNamespace::Lambda;
const DIM: ScalableDimension = ScalableDimension::LambdaFunctionProvisionedConcurrency;

/// `function:NAME:ALIAS`, the resource id of an alias's provisioned concurrency.
pub fn resource_id(function: &str, alias: &str) -> String {
    format!("function:{function}:{alias}")
}

fn build_error(operation: &'static str, e: impl std::fmt::Display) -> AwsError {
    AwsError { operation, code: "BuildError".into(), message: e.to_string(), status: None, class: ErrorClass::Terminal }
}

#[derive(Clone)]
pub struct Scaling {
    client: aws_sdk_applicationautoscaling::Client,
    caller: Caller,
}

impl Scaling {
    pub fn new(config: &aws_config::SdkConfig, caller: Caller) -> Self {
        Scaling { client: aws_sdk_applicationautoscaling::Client::new(config), caller }
    }

    /// Reads the scalable targets among `ids`, with their policies and scheduled actions.
    pub async fn read(&self, ids: &[String]) -> Result<BTreeMap<String, ScalingState>, AwsError> {
        let mut out = BTreeMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let mut token: Option<String> = None;
        loop {
            let page = self
                .caller
                .call("autoscaling:DescribeScalableTargets", || {
                    self.client
                        .describe_scalable_targets()
                        .service_namespace(NS)
                        .scalable_dimension(DIM)
                        .set_resource_ids(Some(ids.to_vec()))
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            for t in page.scalable_targets() {
                let state = ScalingState {
                    min_capacity: t.min_capacity().into(),
                    max_capacity: t.max_capacity().into(),
                    policies: vec![],
                    scheduled_actions: vec![],
                };
                out.insert(t.resource_id().to_string(), state);
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        for (id, state) in out.iter_mut() {
            state.policies = self.policies(id).await?;
            state.scheduled_actions = self.scheduled_actions(id).await?;
        }
        Ok(out)
    }

    async fn policies(&self, id: &str) -> Result<Vec<Policy>, AwsError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .caller
                .call("autoscaling:DescribeScalingPolicies", || {
                    self.client
                        .describe_scaling_policies()
                        .service_namespace(NS)
                        .scalable_dimension(DIM)
                        .resource_id(id)
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            for p in page.scaling_policies() {
                let tt = p.target_tracking_scaling_policy_configuration();
                let on_utilization = tt.and_then(|c| c.predefined_metric_specification()).is_some_and(|m| {
                    m.predefined_metric_type() == &MetricType::LambdaProvisionedConcurrencyUtilization
                });
                out.push(Policy {
                    name: p.policy_name().to_string(),
                    target_utilization: tt.filter(|_| on_utilization).map(|c| c.target_value()),
                });
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    async fn scheduled_actions(&self, id: &str) -> Result<Vec<Scheduled>, AwsError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .caller
                .call("autoscaling:DescribeScheduledActions", || {
                    self.client
                        .describe_scheduled_actions()
                        .service_namespace(NS)
                        .scalable_dimension(DIM)
                        .resource_id(id)
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            for a in page.scheduled_actions() {
                let action = a.scalable_target_action();
                out.push(Scheduled {
                    name: a.scheduled_action_name().to_string(),
                    schedule: a.schedule().to_string(),
                    min_capacity: action.and_then(|x| x.min_capacity()).map(i64::from),
                    max_capacity: action.and_then(|x| x.max_capacity()).map(i64::from),
                    timezone: a.timezone().map(str::to_string),
                });
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    pub async fn register(&self, id: &str, min: i64, max: i64) -> Result<(), AwsError> {
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

    pub async fn put_target_tracking(&self, id: &str, name: &str, target: f64) -> Result<(), AwsError> {
        const OP: &str = "autoscaling:PutScalingPolicy";
        let metric = PredefinedMetricSpecification::builder()
            .predefined_metric_type(MetricType::LambdaProvisionedConcurrencyUtilization)
            .build()
            .map_err(|e| build_error(OP, e))?;
        let cfg = TargetTrackingScalingPolicyConfiguration::builder()
            .target_value(target)
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
                    .set_timezone(a.timezone.clone())
                    .scalable_target_action(action.clone())
                    .send()
            })
            .await
            .map(drop)
    }

    pub async fn delete_scheduled_action(&self, id: &str, name: &str) -> Result<(), AwsError> {
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
