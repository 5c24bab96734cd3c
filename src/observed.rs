//! Reading the live state of just the fields a desired state manages.

use std::collections::BTreeMap;

use crate::aws::scaling::resource_id;
use crate::aws::{AwsError, RegionClients};
use crate::desired::Desired;
use crate::types::{AliasState, FunctionState, InvokeConfig, PcState, ScalingState};

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

/// Reads the function; `function` is `None` when it does not exist (nothing else is read then).
pub async fn read(c: &RegionClients, d: &Desired) -> Result<Observed, AwsError> {
    let f = &d.function_ref;
    let Some(function) = c.lambda.get_function(f).await? else {
        return Ok(Observed::default());
    };
    let n = needs(d);
    let mut o = Observed { function: Some(function), ..Observed::default() };
    if n.aliases {
        o.aliases = c.lambda.list_aliases(f).await?;
    }
    if n.provisioned {
        o.provisioned = c.lambda.list_provisioned_concurrency(f).await?;
    }
    if n.invoke_configs {
        o.invoke_configs = c.lambda.list_event_invoke_configs(f).await?;
    }
    if n.scaling {
        let names: Vec<&String> = if d.prune {
            o.aliases.keys().collect()
        } else {
            d.aliases.iter().filter(|(_, a)| !a.autoscaling.is_absent() || a.delete).map(|(k, _)| k).collect()
        };
        let ids: Vec<String> = names.iter().map(|a| resource_id(&d.key.name, a)).collect();
        let by_id = c.scaling.read_for(&d.key.name, &ids).await?;
        for a in names {
            if let Some(s) = by_id.get(&resource_id(&d.key.name, a)) {
                o.scaling.insert(a.clone(), s.clone());
            }
        }
    }
    Ok(o)
}
