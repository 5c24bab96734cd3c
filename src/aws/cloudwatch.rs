//! CloudWatch alarms, narrowed to what a rollout watches: the state of named alarms, and the
//! region's alarms in ALARM (one batched read for every rollout in the region).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::{AlarmType, StateValue};

use super::call::{AwsError, Caller};
use super::pages;
use crate::types::AlarmState;

/// DescribeAlarms: "AlarmNames: ... Maximum number of 100 items"; MaxRecords 1-100.
const NAMES_PER_CALL: usize = 100;

#[derive(Clone)]
pub struct Alarms {
    client: aws_sdk_cloudwatch::Client,
    caller: Caller,
    /// The region's alarms in ALARM as last polled ([`Alarms::poll`]), when, and how long that
    /// answer may stand in for a read; shared by every clone (one per region).
    polled: Arc<Mutex<Option<Polled>>>,
}

struct Polled {
    at: Instant,
    fresh_for: Duration,
    firing: BTreeSet<String>,
}

fn state(s: Option<&StateValue>) -> AlarmState {
    match s {
        Some(StateValue::Alarm) => AlarmState::Alarm,
        Some(StateValue::Ok) => AlarmState::Ok,
        _ => AlarmState::InsufficientData,
    }
}

const OP: &str = "cloudwatch:DescribeAlarms";

impl Alarms {
    pub fn new(config: &aws_config::SdkConfig, caller: Caller) -> Self {
        Alarms { client: aws_sdk_cloudwatch::Client::new(config), caller, polled: Arc::default() }
    }

    /// One filtered DescribeAlarms, every page, metric and composite alarms alike.
    async fn describe(
        &self,
        names: Option<&[String]>,
        only: Option<StateValue>,
    ) -> Result<BTreeMap<String, AlarmState>, AwsError> {
        let items = pages::all(OP, |token| {
            let only = only.clone();
            async move {
                let page = self
                    .caller
                    .call(OP, || {
                        self.client
                            .describe_alarms()
                            .set_alarm_names(names.map(<[String]>::to_vec))
                            .alarm_types(AlarmType::MetricAlarm)
                            .alarm_types(AlarmType::CompositeAlarm)
                            .set_state_value(only.clone())
                            .max_records(100)
                            .set_next_token(token.clone())
                            .send()
                    })
                    .await?;
                let metric = page.metric_alarms().iter().map(|a| (a.alarm_name(), a.state_value()));
                let composite = page.composite_alarms().iter().map(|a| (a.alarm_name(), a.state_value()));
                let items: Vec<(String, AlarmState)> =
                    metric.chain(composite).map(|(n, s)| (n.unwrap_or_default().to_string(), state(s))).collect();
                Ok((items, page.next_token().map(str::to_string)))
            }
        })
        .await?;
        Ok(items.into_iter().collect())
    }

    /// The state of each named alarm that exists (a missing alarm is absent from the map).
    pub async fn states(&self, names: &[String]) -> Result<BTreeMap<String, AlarmState>, AwsError> {
        let mut out = BTreeMap::new();
        for chunk in names.chunks(NAMES_PER_CALL) {
            out.extend(self.describe(Some(chunk), None).await?);
        }
        Ok(out)
    }

    /// Every alarm of the region now in ALARM: one request (per 100 alarms in ALARM) serves
    /// every rollout in the region.
    pub async fn firing(&self) -> Result<BTreeSet<String>, AwsError> {
        Ok(self.describe(None, Some(StateValue::Alarm)).await?.into_keys().collect())
    }

    /// [`Alarms::firing`], kept for `fresh_for` so that the rollouts of the region (their steps and
    /// their hooks) are answered from this one batched read instead of each reading its own.
    pub async fn poll(&self, fresh_for: Duration) -> Result<BTreeSet<String>, AwsError> {
        let firing = self.firing().await?;
        let polled = Polled { at: Instant::now(), fresh_for, firing: firing.clone() };
        *self.polled.lock().unwrap() = Some(polled);
        Ok(firing)
    }

    /// The state of alarms already known to exist, from the last poll while it is fresh (an
    /// alarm not in ALARM reads as OK); `None` when no fresh poll answers (then read them).
    pub fn polled_states(&self, names: &[String]) -> Option<BTreeMap<String, AlarmState>> {
        let guard = self.polled.lock().unwrap();
        let p = guard.as_ref().filter(|p| p.at.elapsed() <= p.fresh_for)?;
        let state = |n: &String| if p.firing.contains(n) { AlarmState::Alarm } else { AlarmState::Ok };
        Some(names.iter().map(|n| (n.clone(), state(n))).collect())
    }

    /// The state of alarms already known to exist: from a fresh poll, else one read.
    pub async fn watched_states(&self, names: &[String]) -> Result<BTreeMap<String, AlarmState>, AwsError> {
        match self.polled_states(names) {
            Some(states) => Ok(states),
            None => self.states(names).await,
        }
    }
}
