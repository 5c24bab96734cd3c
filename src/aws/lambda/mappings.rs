//! Event source mappings of a function: listed per qualifier, created, updated, deleted.

use aws_sdk_lambda::types::{
    DestinationConfig, EventSourceMappingConfiguration, EventSourcePosition, Filter, FilterCriteria,
    FunctionResponseType, OnFailure, ScalingConfig,
};

use super::{qualifier_of, Lambda};
use crate::aws::call::AwsError;
use crate::types::{normalize_pattern, MappingConfig, MappingState};

fn state(m: &EventSourceMappingConfiguration) -> MappingState {
    let state = m.state().unwrap_or_default().to_string();
    let on_failure = m.destination_config().and_then(|d| d.on_failure()).and_then(|o| o.destination());
    let config = MappingConfig {
        // Only a settled (or settling) state says; Creating/Updating/Deleting do not.
        enabled: match state.as_str() {
            "Enabled" | "Enabling" => Some(true),
            "Disabled" | "Disabling" => Some(false),
            _ => None,
        },
        batch_size: m.batch_size().map(i64::from),
        maximum_batching_window: m.maximum_batching_window_in_seconds().map(i64::from),
        maximum_concurrency: m.scaling_config().and_then(|s| s.maximum_concurrency()).map(i64::from),
        function_response_types: Some(m.function_response_types().iter().map(|t| t.as_str().to_string()).collect()),
        filters: Some(
            m.filter_criteria()
                .map(|f| f.filters().iter().filter_map(|f| f.pattern().map(normalize_pattern)).collect())
                .unwrap_or_default(),
        ),
        parallelization_factor: m.parallelization_factor().map(i64::from),
        bisect_batch_on_function_error: m.bisect_batch_on_function_error(),
        maximum_retry_attempts: m.maximum_retry_attempts().map(i64::from),
        maximum_record_age: m.maximum_record_age_in_seconds().map(i64::from),
        // AWS answers `OnFailure: {}` for a stream without a destination: that is none.
        on_failure: on_failure.filter(|d| !d.is_empty()).map(str::to_string),
    };
    MappingState {
        uuid: m.uuid().unwrap_or_default().to_string(),
        state,
        source: m.event_source_arn().unwrap_or_default().to_string(),
        qualifier: m.function_arn().and_then(qualifier_of).unwrap_or_default(),
        config,
    }
}

fn i32_of(n: Option<i64>) -> Option<i32> {
    n.map(|n| i32::try_from(n).unwrap_or(i32::MAX))
}

fn filters(f: &Option<Vec<String>>) -> Option<FilterCriteria> {
    f.as_ref().map(|list| {
        // An empty FilterCriteria removes the filters.
        let filters: Vec<Filter> = list.iter().map(|p| Filter::builder().pattern(p).build()).collect();
        FilterCriteria::builder().set_filters((!filters.is_empty()).then_some(filters)).build()
    })
}

fn scaling(c: &MappingConfig) -> Option<ScalingConfig> {
    c.maximum_concurrency.map(|n| ScalingConfig::builder().maximum_concurrency(i32_of(Some(n)).unwrap_or(2)).build())
}

fn destination(c: &MappingConfig) -> Option<DestinationConfig> {
    c.on_failure
        .as_ref()
        .map(|d| DestinationConfig::builder().on_failure(OnFailure::builder().destination(d).build()).build())
}

fn response_types(c: &MappingConfig) -> Option<Vec<FunctionResponseType>> {
    c.function_response_types.as_ref().map(|t| t.iter().map(|t| FunctionResponseType::from(t.as_str())).collect())
}

impl Lambda {
    /// The mappings of `function` on each of `qualifiers` ("" = the unqualified function):
    /// ListEventSourceMappings matches the function ARN exactly, so each qualifier is listed.
    pub async fn list_mappings(&self, function: &str, qualifiers: &[String]) -> Result<Vec<MappingState>, AwsError> {
        let mut out: Vec<MappingState> = vec![];
        for q in qualifiers {
            let name = if q.is_empty() { function.to_string() } else { format!("{function}:{q}") };
            let mut marker: Option<String> = None;
            loop {
                let page = self
                    .caller
                    .call("lambda:ListEventSourceMappings", || {
                        self.client.list_event_source_mappings().function_name(&name).set_marker(marker.clone()).send()
                    })
                    .await;
                let page = match page {
                    Ok(p) => p,
                    // A qualifier that does not exist yet has no mappings.
                    Err(e) if e.is_not_found() => break,
                    Err(e) => return Err(e),
                };
                for m in page.event_source_mappings() {
                    let s = state(m);
                    if !out.iter().any(|o| o.uuid == s.uuid) {
                        out.push(s);
                    }
                }
                marker = page.next_marker().map(str::to_string);
                if marker.is_none() {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// CreateEventSourceMapping with every managed setting.
    pub async fn create_mapping(
        &self,
        function: &str,
        qualifier: &str,
        source: &str,
        c: &MappingConfig,
        starting_position: Option<&str>,
    ) -> Result<(), AwsError> {
        let name = if qualifier.is_empty() { function.to_string() } else { format!("{function}:{qualifier}") };
        self.caller
            .call("lambda:CreateEventSourceMapping", || {
                self.client
                    .create_event_source_mapping()
                    .function_name(&name)
                    .event_source_arn(source)
                    .set_enabled(c.enabled)
                    .set_batch_size(i32_of(c.batch_size))
                    .set_maximum_batching_window_in_seconds(i32_of(c.maximum_batching_window))
                    .set_scaling_config(scaling(c))
                    .set_function_response_types(response_types(c))
                    .set_filter_criteria(filters(&c.filters).filter(|f| !f.filters().is_empty()))
                    .set_starting_position(starting_position.map(EventSourcePosition::from))
                    .set_parallelization_factor(i32_of(c.parallelization_factor))
                    .set_bisect_batch_on_function_error(c.bisect_batch_on_function_error)
                    .set_maximum_retry_attempts(i32_of(c.maximum_retry_attempts))
                    .set_maximum_record_age_in_seconds(i32_of(c.maximum_record_age))
                    .set_destination_config(destination(c))
                    .send()
            })
            .await
            .map(drop)
    }

    /// UpdateEventSourceMapping of the set fields of `c`.
    pub async fn update_mapping(&self, uuid: &str, c: &MappingConfig) -> Result<(), AwsError> {
        self.caller
            .call("lambda:UpdateEventSourceMapping", || {
                self.client
                    .update_event_source_mapping()
                    .uuid(uuid)
                    .set_enabled(c.enabled)
                    .set_batch_size(i32_of(c.batch_size))
                    .set_maximum_batching_window_in_seconds(i32_of(c.maximum_batching_window))
                    .set_scaling_config(scaling(c))
                    .set_function_response_types(response_types(c))
                    .set_filter_criteria(filters(&c.filters))
                    .set_parallelization_factor(i32_of(c.parallelization_factor))
                    .set_bisect_batch_on_function_error(c.bisect_batch_on_function_error)
                    .set_maximum_retry_attempts(i32_of(c.maximum_retry_attempts))
                    .set_maximum_record_age_in_seconds(i32_of(c.maximum_record_age))
                    .set_destination_config(destination(c))
                    .send()
            })
            .await
            .map(drop)
    }

    /// DeleteEventSourceMapping (already gone counts as deleted).
    pub async fn delete_mapping(&self, uuid: &str) -> Result<(), AwsError> {
        let res = self
            .caller
            .call("lambda:DeleteEventSourceMapping", || self.client.delete_event_source_mapping().uuid(uuid).send())
            .await;
        match res {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map(drop),
        }
    }
}
