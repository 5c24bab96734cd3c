//! Code signing (first, before the code), runtime management (before the publish, so the new
//! version carries it) and recursive loop detection (function-level, after the publish).

use serde_json::{json, Value};

use super::{diff, Action, FunctionPlan, Op};
use crate::desired::Desired;
use crate::observed::Observed;
use crate::types::{Field, FunctionState, RuntimeManagement, DEFAULT_RECURSIVE_LOOP};

/// A write to one of the function-level configurations or to the user tags.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigAction {
    PutCodeSigning {
        arn: String,
    },
    DeleteCodeSigning,
    /// PutRuntimeManagementConfig of `$LATEST`.
    PutRuntimeManagement(RuntimeManagement),
    PutRecursion(String),
    /// TagResource of these user tags (added or changed).
    TagUser(std::collections::BTreeMap<String, String>),
    /// UntagResource of these user tags (never the controller's or AWS's).
    UntagUser(Vec<String>),
}

impl ConfigAction {
    pub fn operation(&self) -> &'static str {
        match self {
            ConfigAction::PutCodeSigning { .. } => "lambda:PutFunctionCodeSigningConfig",
            ConfigAction::DeleteCodeSigning => "lambda:DeleteFunctionCodeSigningConfig",
            ConfigAction::PutRuntimeManagement(_) => "lambda:PutRuntimeManagementConfig",
            ConfigAction::PutRecursion(_) => "lambda:PutFunctionRecursionConfig",
            ConfigAction::TagUser(_) => "lambda:TagResource",
            ConfigAction::UntagUser(_) => "lambda:UntagResource",
        }
    }
}

/// True when the function is a container image, where code signing and runtime management do
/// not apply (AWS: "You can use code signing if your deployment package is a .zip file archive";
/// "To update runtime versions for container-based functions, you must create a new container
/// image"). The one place that decides it: the manifest's code when it names one (the package
/// type never changes), else the live PackageType.
pub(super) fn is_image(d: &Desired, f: &FunctionState) -> bool {
    super::settings::is_image(d, f)
}

/// True for an action that changes `$LATEST` in what a published version carries.
pub(super) fn changes_latest(a: &Action) -> bool {
    matches!(a, Action::Config(ConfigAction::PutRuntimeManagement(_)))
}

/// Put or delete the code signing configuration; first in the function's plan: "Changes to the
/// code signing configuration take effect the next time a user tries to deploy a code package".
pub(super) fn code_signing(d: &Desired, f: &FunctionState, o: &Observed, p: &mut FunctionPlan) {
    const PATH: &str = "codeSigningConfigArn";
    let want = &d.configs.code_signing_config_arn;
    if want.is_absent() || d.ignored(PATH) {
        return;
    }
    let live = o.configs.code_signing_config_arn.clone().flatten();
    match want {
        Field::Value(_) if is_image(d, f) => p
            .blocked
            .push(format!("{PATH}: code signing applies to .zip functions only; this one is a container image")),
        Field::Value(arn) if live.as_ref() != Some(arn) => {
            let op = if live.is_some() { Op::Update } else { Op::Create };
            p.push(
                Action::Config(ConfigAction::PutCodeSigning { arn: arn.clone() }),
                vec![diff(PATH, op, json!(live), json!(arn))],
            );
        }
        Field::Null if live.is_some() => p.push(
            Action::Config(ConfigAction::DeleteCodeSigning),
            vec![diff(PATH, Op::Delete, json!(live), Value::Null)],
        ),
        _ => {}
    }
}

/// PutRuntimeManagementConfig of `$LATEST` when its mode (or pinned version) differs.
pub(super) fn runtime_management(d: &Desired, f: &FunctionState, o: &Observed, p: &mut FunctionPlan) {
    const PATH: &str = "runtimeManagement";
    let want = match &d.configs.runtime_management {
        Field::Absent => return,
        _ if d.ignored(PATH) => return,
        Field::Value(_) if is_image(d, f) => {
            p.blocked.push(format!("{PATH}: applies to .zip functions only; a container image carries its runtime"));
            return;
        }
        Field::Null if is_image(d, f) => return,
        Field::Value(r) => r.clone(),
        Field::Null => RuntimeManagement::default_mode(),
    };
    let Some(live) = &o.configs.runtime_management else { return };
    // The ARN is returned in Manual mode only ("otherwise null is returned").
    let same = live.update_runtime_on == want.update_runtime_on
        && (want.update_runtime_on != "Manual" || live.runtime_version_arn == want.runtime_version_arn);
    if !same {
        p.push(
            Action::Config(ConfigAction::PutRuntimeManagement(want.clone())),
            vec![diff(PATH, Op::Update, json!(live), json!(want))],
        );
    }
}

/// PutFunctionRecursionConfig when the mode differs (`null`: Terminate, AWS's default).
pub(super) fn recursion(d: &Desired, o: &Observed, p: &mut FunctionPlan) {
    const PATH: &str = "recursiveLoop";
    let want = match &d.configs.recursive_loop {
        Field::Absent => return,
        _ if d.ignored(PATH) => return,
        Field::Value(v) => v.clone(),
        Field::Null => DEFAULT_RECURSIVE_LOOP.to_string(),
    };
    match &o.configs.recursive_loop {
        Some(live) if *live != want => p.push(
            Action::Config(ConfigAction::PutRecursion(want.clone())),
            vec![diff(PATH, Op::Update, json!(live), json!(want))],
        ),
        _ => {}
    }
}
