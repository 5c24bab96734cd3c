//! `spec.code`: an UpdateFunctionCode when git names other code, or when the live code is no
//! longer the code lambda-reconciler deployed (drift).

use serde_json::json;

use super::{diff, Action, FunctionPlan, Op};
use crate::desired::Desired;
use crate::types::{AppliedGeneration, FunctionState};

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
    let to = json!(want.location());
    let from = match &f.code {
        Some(r) if r.source == want.digest() && r.sha256 == f.code_sha256 => return,
        // Same source, other bytes: the code was changed outside git.
        Some(r) if r.source == want.digest() => {
            json!(format!("CodeSha256 {} (changed outside git; deployed {})", f.code_sha256, r.sha256))
        }
        _ => json!(format!("CodeSha256 {}", f.code_sha256)),
    };
    p.push(Action::UpdateCode { source: want.clone() }, vec![diff("code", Op::Update, from, to)]);
}
