//! What an in-sync function costs in GetPolicy calls, and that a statement the manifest stopped owning is still found and removed on each qualifier.

use std::collections::BTreeSet;

use crate::common::*;

const F: &str = "app-reads";

fn manifest(permissions: &str) -> String {
    let permissions = if permissions.is_empty() { "    {}\n" } else { permissions };
    format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {F}\nspec:\n  aliases:\n    prod:\n      functionVersion: \"1\"\n    live:\n      functionVersion: \"2\"\n  permissions:\n{permissions}"
    )
}

/// A statement named `name` on `qualifier` (empty: the unqualified function).
fn statement(name: &str, qualifier: &str) -> String {
    let q = if qualifier.is_empty() { String::new() } else { format!("      qualifier: {qualifier}\n") };
    format!("    {name}:\n{q}      principal: apigateway.amazonaws.com\n")
}

/// The qualifiers ("" = the unqualified function) of the GetPolicy calls the emulator received.
fn policy_reads(emu: &Emulator) -> Vec<String> {
    let path = format!("/2015-03-31/functions/{F}/policy");
    emu.requests()
        .into_iter()
        .filter(|r| r["method"] == "GET" && r["path"].as_str().is_some_and(|p| p.trim_end_matches('/') == path))
        .map(|r| {
            let query = r["query"].as_str().unwrap_or("").to_string();
            query.split('&').find_map(|kv| kv.strip_prefix("Qualifier=")).unwrap_or("").to_string()
        })
        .collect()
}

/// The ids of `qualifier`'s statements.
async fn sids(emu: &Emulator, qualifier: &str) -> BTreeSet<String> {
    let q = (!qualifier.is_empty()).then(|| qualifier.to_string());
    let res = emu.lambda().await.get_policy().function_name(F).set_qualifier(q).send().await;
    let Ok(out) = res else { return BTreeSet::new() };
    let doc: serde_json::Value = serde_json::from_str(out.policy().unwrap()).unwrap();
    doc["Statement"].as_array().unwrap().iter().map(|s| s["Sid"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn an_in_sync_function_reads_only_the_policies_of_the_qualifiers_its_statements_name() {
    let emu = Emulator::start();
    emu.seed_function(F, 2);
    let dir = manifests(&[("f.yaml", &manifest(&statement("api", "prod")))]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert!(sids(&emu, "prod").await.contains("lambda-reconciler-api"));
    emu.clear_requests();
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
    assert_eq!(policy_reads(&emu), vec!["prod".to_string()], "neither the unqualified function nor alias live");
}

#[tokio::test]
async fn a_statement_the_manifest_dropped_is_removed_from_each_qualifier_by_a_fresh_process() {
    let emu = Emulator::start();
    emu.seed_function(F, 2);
    let all = [("", "whole"), ("prod", "front"), ("live", "back")];
    let text: String = all.iter().map(|(q, n)| statement(n, q)).collect();
    let dir = manifests(&[("f.yaml", &manifest(&text))]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    for (q, n) in all {
        assert!(sids(&emu, q).await.contains(&format!("lambda-reconciler-{n}")), "{q:?}");
    }
    // Each apply is a new process: only AWS's state (the generation tag) says what was owned.
    for (k, (q, n)) in all.iter().enumerate() {
        let kept: String = all[k + 1..].iter().map(|(q, n)| statement(n, q)).collect();
        std::fs::write(dir.path().join("f.yaml"), manifest(&kept)).unwrap();
        let run = emu.run(&["apply", "-m", path(&dir)]).expect(0);
        assert!(!sids(&emu, q).await.contains(&format!("lambda-reconciler-{n}")), "{q:?}: {}", run.all());
        emu.clear_requests();
        emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
        let named: BTreeSet<String> = all[k + 1..].iter().map(|(q, _)| q.to_string()).collect();
        assert_eq!(
            policy_reads(&emu).into_iter().collect::<BTreeSet<_>>(),
            named,
            "in sync again: only the named qualifiers are read"
        );
    }
}
