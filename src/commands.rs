//! The one-shot commands: validate, plan, apply. Each returns the process exit code.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};

use crate::apply::operator::Operator;
use crate::apply::Waits;
use crate::aws::{Aws, AwsOptions};
use crate::cli::{Output, PlanOutput};
use crate::desired::{self, Desired};
use crate::manifest::{load_dir, Manifest, Snapshot};
use crate::plan::rollout::Move;
use crate::plan::{render, FunctionPlan, Plan};
use crate::reconcile::{self, RolloutEvent};

/// Functions planned or applied at once (the rate limiter still bounds the call rate).
const CONCURRENCY: usize = 4;

/// Loads and validates; prints every error to stderr. `None` when invalid.
fn load(dir: &Path) -> Option<Snapshot> {
    match load_dir(dir) {
        Err(e) => {
            eprintln!("error: {e}");
            None
        }
        Ok(s) if s.errors.is_empty() && s.manifests.is_empty() => {
            eprintln!("error: no manifest found under {} (an empty directory is never applied)", dir.display());
            None
        }
        Ok(s) if !s.errors.is_empty() => {
            for e in &s.errors {
                eprintln!("error: {e}");
            }
            eprintln!("{} error(s); no manifest was applied", s.errors.len());
            None
        }
        Ok(s) => {
            // Valid, but likely a mistake: said on stderr, the exit code unchanged.
            for w in s.manifests.iter().flat_map(|m| &m.warnings) {
                eprintln!("warning: {w}");
            }
            Some(s)
        }
    }
}

pub fn validate(dir: &Path) -> i32 {
    match load(dir) {
        None => 1,
        Some(s) => {
            println!("{} manifest(s) valid in {}", s.manifests.len(), dir.display());
            0
        }
    }
}

/// A manifest resolved to its desired state, or the reason it could not be.
enum Target {
    Ready(Box<Desired>),
    Failed(Box<FunctionPlan>),
}

/// A manifest that failed before its desired state existed (no region, SSM unavailable).
fn failed(m: &Manifest, region: &str, error: String) -> Target {
    let raw = m.doc.spec.function_name.clone().unwrap_or_else(|| m.name.clone());
    let function = crate::types::FunctionRef::parse(&raw).map(|f| f.name).unwrap_or(raw);
    Target::Failed(Box::new(FunctionPlan {
        rollouts: vec![],
        manifest: m.name.clone(),
        function,
        region: region.to_string(),
        account: None,
        runtime: None,
        drift_policy: m.doc.spec.drift_policy,
        changes: vec![],
        after_create: vec![],
        blocked: vec![],
        progressing: vec![],
        unmanaged_aliases: vec![],
        error: Some(error),
    }))
}

/// Resolves SSM values (one batched read per region) and builds each desired state.
async fn resolve(aws: &Aws, manifests: &[Manifest]) -> Vec<Target> {
    let default = aws.default_region();
    let mut by_region: BTreeMap<crate::types::Scope, Vec<&Manifest>> = BTreeMap::new();
    let mut out = Vec::new();
    for m in manifests {
        match m.key(default.as_deref()) {
            Some(k) => by_region.entry(k.scope()).or_default().push(m),
            None => out.push(failed(
                m,
                "",
                format!("{}: spec.region: no region in the manifest, --region or the AWS config", m.file.display()),
            )),
        }
    }
    for ((role, region), ms) in by_region {
        let clients = aws.clients(role.as_deref(), &region);
        let names = desired::ssm_names(ms.iter().copied());
        let params = if names.is_empty() {
            Ok(BTreeMap::new())
        } else {
            clients.ssm.get_parameters(&names).await.map(|(found, _)| found)
        }
        .map_err(|e| format!("resolving SSM parameters: {e}"));
        let refs = desired::secret_refs(ms.iter().copied());
        let params = match params {
            Ok(mut p) if !refs.is_empty() => match clients.secrets.resolve(&refs).await {
                Ok(values) => {
                    p.extend(values);
                    Ok(p)
                }
                Err(e) => Err(format!("resolving Secrets Manager secrets: {e}")),
            },
            other => other,
        };
        for m in ms {
            let t = match &params {
                Err(e) => failed(m, &region, e.clone()),
                Ok(p) => match desired::build(m, Some(&region), p) {
                    Ok(d) => Target::Ready(Box::new(d)),
                    Err(e) => failed(m, &region, e.to_string()),
                },
            };
            out.push(t);
        }
    }
    out
}

/// How long `apply` follows a release member queued behind a wave that does not move.
const QUEUED_FOLLOW: Duration = Duration::from_secs(60);

/// Reads the other members of `d`'s releases (before planning).
async fn read_releases(aws: &Aws, d: &mut Desired) {
    for r in d.releases.values_mut() {
        aws.read_release(r).await;
    }
}

/// How `plan` and `apply` show their progress.
#[derive(Debug, Clone, Copy)]
pub struct Show {
    /// Plain lines instead of a bar (stderr is no terminal).
    pub plain: bool,
    /// Progress as JSON log events (`--log-format json`).
    pub json: bool,
}

/// Runs `work` on every resolvable manifest, `CONCURRENCY` at a time, in manifest order, showing
/// progress as `verb`; also returns the clients (their call counts).
async fn for_each<F, Fut>(
    dir: &Path,
    opts: &AwsOptions,
    (verb, show): (&'static str, Show),
    work: F,
) -> Option<(Vec<FunctionPlan>, Arc<Aws>)>
where
    F: Fn(Arc<Aws>, Box<Desired>) -> Fut,
    Fut: std::future::Future<Output = FunctionPlan>,
{
    let snapshot = load(dir)?;
    let aws = Arc::new(Aws::connect(opts).await);
    let default = aws.default_region();
    let keyed = (snapshot.manifests.iter()).filter_map(|m| Some((m.key(default.as_deref())?.scope(), m)));
    for ((role, region), interest) in desired::interest(keyed) {
        aws.set_interest(role.as_deref(), &region, interest);
    }
    let mut targets = resolve(&aws, &snapshot.manifests).await;
    // Release members join their releases; earlier waves first, so a member waiting for an
    // earlier wave never holds a slot that wave needs.
    let all: Vec<&Manifest> = snapshot.manifests.iter().collect();
    for t in &mut targets {
        if let Target::Ready(d) = t {
            if let Some(m) = all.iter().find(|m| m.name == d.manifest) {
                d.releases = desired::releases(m, &all, default.as_deref());
            }
        }
    }
    targets.sort_by_key(|t| match t {
        Target::Ready(d) => d.releases.values().map(|r| r.member().wave).min().unwrap_or(0),
        Target::Failed(_) => 0,
    });
    let progress = crate::progress::Progress::new(verb, targets.len(), show.plain, show.json);
    let results: Vec<FunctionPlan> = stream::iter(targets)
        .map(|t| match t {
            Target::Failed(p) => futures::future::Either::Left(async move { *p }),
            Target::Ready(d) => futures::future::Either::Right(work(aws.clone(), d)),
        })
        .buffered(CONCURRENCY)
        .inspect(|p| progress.done(&p.function))
        .collect()
        .await;
    progress.finish();
    for p in &results {
        if let Some(e) = &p.error {
            if show.json {
                tracing::error!(function = %p.function, region = %p.region, manifest = %p.manifest, error = %e, "failed");
            } else {
                eprintln!("error: {} ({}) [manifest {}]: {e}", p.function, p.region, p.manifest);
            }
        }
    }
    Some((results, aws))
}

fn print_plan(plan: &Plan, output: Output) {
    print_plan_as(plan, if output == Output::Json { PlanOutput::Json } else { PlanOutput::Text });
}

fn print_plan_as(plan: &Plan, output: PlanOutput) {
    let text = match output {
        PlanOutput::Text => render::text(plan),
        PlanOutput::Json => render::json(plan) + "\n",
        PlanOutput::Markdown => crate::plan::markdown::markdown(plan, crate::types::now_ms()),
    };
    let _ = std::io::stdout().write_all(text.as_bytes());
}

pub async fn plan(dir: &Path, opts: &AwsOptions, detailed: bool, output: PlanOutput, show: Show) -> i32 {
    let results = for_each(dir, opts, ("plan", show), |aws, d| async move {
        let mut d = d;
        read_releases(&aws, &mut d).await;
        match reconcile::plan_one(&aws.clients(d.key.role.as_deref(), &d.key.region), &d).await {
            Ok(p) => p,
            Err(e) => FunctionPlan::failed(&d, &e.to_string()),
        }
    })
    .await;
    let Some((functions, _)) = results else { return 1 };
    let plan = Plan { functions };
    print_plan_as(&plan, output);
    if plan.has_errors() {
        1
    } else if detailed && plan.has_changes() {
        2
    } else {
        0
    }
}

/// Says a rollout milestone as it happens, on stderr (progress, not the plan): a plain line, or a
/// log event with `--log-format json`.
fn progress(function: &str, e: &RolloutEvent, json: bool) {
    let (alias, line) = match e {
        RolloutEvent::Started { alias, from, to } => (alias, format!("rollout {from} → {to} started")),
        RolloutEvent::Stepped { alias, to, weight } => (alias, format!("{weight}% of traffic on {to}")),
        RolloutEvent::Succeeded { alias, to } => (alias, format!("rollout to {to} succeeded")),
        RolloutEvent::RolledBack { alias, to, reason } => (alias, format!("rollout to {to} ROLLED BACK: {reason}")),
    };
    if json {
        tracing::info!(function, alias = %alias, milestone = %line, "rollout");
    } else {
        crate::progress::say(&format!("rollout {function}: aliases.{alias}: {line}"));
    }
}

/// Follows the function's rollouts until none is waiting on a pause: each pause is slept in
/// slices of the alarm poll, and every wake reads the world again (an alarm rolls back at once).
/// Each pause is said once, with when it ends.
async fn follow(
    aws: &Aws,
    d: &mut Desired,
    mut a: reconcile::Applied,
    (waits, show): (Waits, Show),
) -> Result<reconcile::Applied, reconcile::ReconcileError> {
    let c = &aws.clients(d.key.role.as_deref(), &d.key.region);
    a.events.iter().for_each(|e| progress(&d.key.name, e, show.json));
    let mut said = None;
    let mut stalled_since: Option<std::time::Instant> = None;
    loop {
        // A release member queued behind a wave that does not move (blocked, failed, not applied)
        // is left queued after a minute: `apply` never waits forever for another member.
        let moving = |r: &&crate::plan::rollout::Rollout| {
            r.phase != "Queued"
                || r.reason.as_deref().is_some_and(|w| w.contains(" is rolling") || w.contains(" bakes until"))
        };
        let stalled = a.last.rollouts.iter().any(|r| r.phase == "Queued")
            && !a.last.rollouts.iter().filter(|r| r.phase != "Done").any(|r| moving(&r));
        match (stalled, stalled_since) {
            (false, _) => stalled_since = None,
            (true, None) => stalled_since = Some(std::time::Instant::now()),
            (true, Some(t)) if t.elapsed() > QUEUED_FOLLOW => {
                for r in a.last.rollouts.iter().filter(|r| r.phase == "Queued") {
                    let why = r.reason.as_deref().unwrap_or("an earlier wave does not move");
                    crate::progress::say(&format!("rollout {}: aliases.{}: left queued ({why})", d.key.name, r.alias));
                }
                return Ok(a);
            }
            (true, Some(_)) => {}
        }
        // A release member done with its own rollout is not followed while others move.
        let due = a.last.rollouts.iter().filter(|r| r.phase != "Done").filter_map(|r| match r.mv {
            Move::Wait { until_ms } => until_ms,
            _ => Some(0),
        });
        let Some(due) = due.min() else { return Ok(a) };
        if due > crate::types::now_ms() && said != Some(due) {
            let until = crate::types::format_time(due / 1000);
            tracing::info!(waiting_for = "rollout pause", function = %d.key.name, until = %until, "waiting");
            said = Some(due);
        }
        let left = Duration::from_millis((due - crate::types::now_ms()).max(0) as u64);
        tokio::time::sleep(left.min(waits.alarm_poll)).await;
        read_releases(aws, d).await;
        let (plan, o) = reconcile::observe_and_plan(c, d).await?;
        let (last, events, moved) = reconcile::drive(c, d, plan, o, waits, reconcile::MOVES_PER_RECONCILE).await?;
        events.iter().for_each(|e| progress(&d.key.name, e, show.json));
        a.last = last;
        a.events.extend(events);
        a.writes += moved;
    }
}

pub async fn apply(
    dir: &Path,
    opts: &AwsOptions,
    output: Output,
    (waits, wait_rollouts): (Waits, bool),
    (show, revision): (Show, Option<String>),
) -> i32 {
    let revision = &revision;
    let results = for_each(dir, opts, ("apply", show), |aws, d| async move {
        let mut d = Box::new(Desired { revision: revision.clone(), ..*d });
        read_releases(&aws, &mut d).await;
        let c = aws.clients(d.key.role.as_deref(), &d.key.region);
        let applied = match reconcile::apply_one(&c, &d, waits, 3).await {
            Ok(a) if wait_rollouts => follow(&aws, &mut d, a, (waits, show)).await,
            other => other,
        };
        match applied {
            Ok(a) => {
                let mut shown = a.initial;
                shown.blocked = a.last.blocked;
                shown.progressing = a.last.progressing;
                shown.rollouts = a.last.rollouts;
                // A target held after a roll back is not the desired state: apply fails.
                shown.error = a.last.error.or_else(|| {
                    let back = shown.rollouts.iter().find(|r| r.phase == "RolledBack");
                    back.map(|r| {
                        let reason = r.reason.as_deref().unwrap_or("");
                        format!("aliases.{}: the rollout to version {} rolled back: {reason}", r.alias, r.to)
                    })
                });
                shown
            }
            Err(e) => FunctionPlan::failed(&d, &e.to_string()),
        }
    })
    .await;
    let Some((functions, aws)) = results else { return 1 };
    // Every write call AWS accepted, counted where each is made: also those of a function whose
    // apply then failed.
    let writes = aws.caller.stats.writes_made();
    let plan = Plan { functions };
    print_plan(&plan, output);
    if output == Output::Text {
        println!("Apply complete: {writes} write call(s).");
    }
    let blocked = plan.functions.iter().any(|f| !f.blocked.is_empty());
    if plan.has_errors() || blocked {
        1
    } else {
        0
    }
}

/// `export`: prints the manifest on stdout, warnings on stderr.
pub async fn export(opts: &AwsOptions, function: &str, aliases: &[String]) -> i32 {
    let aws = Aws::connect(opts).await;
    match crate::export::export(&aws, function, aliases, opts.region.clone()).await {
        Ok(e) => {
            for w in &e.warnings {
                eprintln!("warning: {w}");
            }
            print!("{}", e.yaml);
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// `promote`, `abort`, `retry`: through a running controller (`--server`), else on AWS directly.
pub async fn operate(opts: &AwsOptions, a: &crate::cli::OperatorArgs, op: Operator) -> i32 {
    let name = match op {
        Operator::Promote => "promote",
        Operator::Abort => "abort",
        Operator::Retry => "retry",
    };
    let result = match &a.server {
        Some(server) => {
            let region = Aws::connect(opts).await.default_region().unwrap_or_default();
            let target = (region.as_str(), a.function.as_str(), a.alias.as_str());
            crate::remote::operate(server, target, name, a.admin_token_file.as_deref()).await
        }
        None => {
            let aws = Aws::connect(opts).await;
            let region = opts.region.clone().or_else(|| aws.default_region()).unwrap_or_default();
            crate::apply::operator::operate(&aws.region(&region), &a.function, &a.alias, op)
                .await
                .map(|(done, _)| done)
                .map_err(|e| e.to_string())
        }
    };
    match result {
        Ok(text) => {
            println!("{}", text.trim_end());
            0
        }
        Err(e) => {
            eprintln!("error: {name} {} {}: {e}", a.function, a.alias);
            1
        }
    }
}
