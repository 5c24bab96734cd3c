//! Reading the live state of just the fields a desired state manages.

use std::collections::BTreeMap;

use crate::aws::scaling::resource_id;
use crate::aws::{AwsError, RegionClients};
use crate::desired::Desired;
use crate::types::{AliasState, AppliedGeneration, FunctionState, InvokeConfig, PcState, ScalingState};

/// The live configuration of one function. Maps are empty for kinds that were not read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    pub function: Option<FunctionState>,
    pub aliases: BTreeMap<String, AliasState>,
    pub provisioned: BTreeMap<String, PcState>,
    /// Keyed by qualifier; `None` is the unqualified function.
    pub invoke_configs: BTreeMap<Option<String>, InvokeConfig>,
    /// Keyed by alias name.
    pub scaling: BTreeMap<String, ScalingState>,
}

/// Which kinds a desired state manages (and so which reads are needed).
pub struct Needs {
    pub aliases: bool,
    pub provisioned: bool,
    pub invoke_configs: bool,
    pub scaling: bool,
}

pub fn needs(d: &Desired) -> Needs {
    let any = |f: &dyn Fn(&crate::desired::DesiredAlias) -> bool| d.aliases.values().any(f);
    Needs {
        aliases: !d.aliases.is_empty() || d.prune,
        provisioned: any(&|a| !a.provisioned_concurrency.is_absent() || !a.autoscaling.is_absent()),
        invoke_configs: !d.invoke_config.is_absent() || any(&|a| !a.invoke_config.is_absent()),
        scaling: d.prune || any(&|a| !a.autoscaling.is_absent() || a.delete),
    }
}

/// Reads the function; `function` is `None` when it does not exist (the other reads are then
/// discarded). The reads are independent, so they are issued together: a reconcile waits for
/// one round trip, not one per kind.
pub async fn read(c: &RegionClients, d: &Desired) -> Result<Observed, AwsError> {
    let f = &d.function_ref;
    let n = needs(d);
    let own_scaling = n.scaling && !d.prune;
    let (function, aliases, provisioned, invoke_configs, scaling) = tokio::join!(
        c.lambda.get_function(f),
        when(n.aliases, || c.lambda.list_aliases(f)),
        when(n.provisioned, || c.lambda.list_provisioned_concurrency(f)),
        when(n.invoke_configs, || c.lambda.list_event_invoke_configs(f)),
        when(own_scaling, || read_scaling(c, d, declared_scaling(d))),
    );
    let Some(mut function) = function? else {
        return Ok(Observed::default());
    };
    if function.applied_generation == AppliedGeneration::NotReturned {
        function.applied_generation = c.lambda.list_tags(&function.arn).await?;
    }
    let mut o = Observed {
        function: Some(function),
        aliases: aliases?,
        provisioned: provisioned?,
        invoke_configs: invoke_configs?,
        scaling: scaling?,
    };
    if n.scaling && d.prune {
        // Pruning covers every live alias: their names come from the alias list.
        o.scaling = read_scaling(c, d, o.aliases.keys().cloned().collect()).await?;
    }
    Ok(o)
}

/// Runs `read` when `needed`; else nothing was read (an empty value).
async fn when<T: Default, R, F>(needed: bool, read: R) -> Result<T, AwsError>
where
    R: FnOnce() -> F,
    F: std::future::Future<Output = Result<T, AwsError>>,
{
    if needed {
        read().await
    } else {
        Ok(T::default())
    }
}

/// The aliases whose autoscaling the manifest declares (or deletes).
fn declared_scaling(d: &Desired) -> Vec<String> {
    d.aliases.iter().filter(|(_, a)| !a.autoscaling.is_absent() || a.delete).map(|(k, _)| k.clone()).collect()
}

/// The autoscaling state of `aliases`, keyed by alias name.
async fn read_scaling(
    c: &RegionClients,
    d: &Desired,
    aliases: Vec<String>,
) -> Result<BTreeMap<String, ScalingState>, AwsError> {
    let ids: Vec<String> = aliases.iter().map(|a| resource_id(&d.key.name, a)).collect();
    let by_id = c.scaling.read_for(&d.key.name, &ids).await?;
    Ok(aliases.into_iter().filter_map(|a| by_id.get(&resource_id(&d.key.name, &a)).cloned().map(|s| (a, s))).collect())
}
