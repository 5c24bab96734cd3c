//! `spec.code` and `spec.architectures`: an UpdateFunctionCode when git names other code or
//! another architecture, or when the live code is no longer the code lambda-reconciler deployed
//! (drift). A change of package type (zip ↔ image) is blocked: Lambda cannot make it.

use serde_json::{json, Value};

use super::{diff, Action, Diff, FunctionPlan, Op};
use crate::desired::Desired;
use crate::types::{AppliedGeneration, CodeSource, FunctionState};

/// Plans the code update, if any; it comes before the configuration update and the publish.
pub(super) fn plan(d: &Desired, f: &FunctionState, p: &mut FunctionPlan) {
    let Some(want) = &d.code else { return };
    if d.ignored("code") {
        return;
    }
    if let AppliedGeneration::Unreadable(why) = &f.applied_generation {
        // Without the code tag, a git change cannot be told from code uploaded outside git.
        p.blocked.push(format!("code: the function's tags cannot be read ({why}); lambda:ListTags is needed"));
        return;
    }
    // AWS: "You cannot change the deployment package type (.zip or container image) for an
    // existing function."
    if want.package_type() != f.package.kind {
        p.blocked.push(format!(
            "code: the package type cannot change ({} → {}); recreate the function",
            f.package.kind,
            want.package_type()
        ));
        return;
    }
    let architecture = d.architecture.clone().filter(|_| !d.ignored("architectures"));
    let mut diffs: Vec<Diff> = code_diff(want, f).into_iter().collect();
    if let Some(a) = architecture.as_ref().filter(|a| f.package.architectures != [a.as_str()]) {
        // Architectures is UpdateFunctionCode's: the code is sent again with the new one.
        diffs.push(diff("architectures", Op::Update, json!(f.package.architectures), json!([a])));
    }
    if diffs.is_empty() {
        return;
    }
    let revision_id = Some(f.revision_id.clone());
    p.push(Action::UpdateCode { source: want.clone(), architecture, revision_id }, diffs);
}

/// The `code` line, when the live code is not the manifest's.
fn code_diff(want: &CodeSource, f: &FunctionState) -> Option<Diff> {
    let recorded_here = f.code.as_ref().filter(|r| r.source == want.digest());
    let in_sync = match want.image_digest() {
        // An image's CodeSha256 is its digest: compared directly, the tag is not needed.
        Some(hex) => f.code_sha256 == hex,
        None => recorded_here.is_some_and(|r| r.sha256 == f.code_sha256),
    };
    if in_sync {
        return None;
    }
    let live = match &f.package.image_uri {
        Some(uri) => format!("{uri} (CodeSha256 {})", f.code_sha256),
        None => format!("CodeSha256 {}", f.code_sha256),
    };
    let from: Value = match recorded_here {
        // Same source, other bytes: the code was changed outside git.
        Some(r) => json!(format!("{live} (changed outside git; deployed {})", r.sha256)),
        None => json!(live),
    };
    Some(diff("code", Op::Update, from, json!(want.location())))
}
