//! `plan` and `apply` over many manifests say how far they are: plain lines on stderr when it is
//! not a terminal (as here), log events with `--log-format json`; stdout keeps only the plan.

use crate::common::*;

fn many(n: usize, emu: &Emulator) -> tempfile::TempDir {
    let docs: Vec<(String, String)> = (0..n)
        .map(|i| {
            emu.seed_function(&format!("app-p{i}"), 1);
            let doc = format!(
                "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: app-p{i}\nspec:\n  reservedConcurrency: 2\n"
            );
            (format!("p{i}.yaml"), doc)
        })
        .collect();
    let refs: Vec<(&str, &str)> = docs.iter().map(|(f, d)| (f.as_str(), d.as_str())).collect();
    manifests(&refs)
}

#[test]
fn apply_over_many_manifests_prints_progress_lines_to_stderr_and_only_the_plan_to_stdout() {
    let emu = Emulator::start();
    let dir = many(12, &emu);
    let run = emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert!(run.stderr.contains("apply: 12/12 functions (100 %)"), "{}", run.stderr);
    assert!(!run.stdout.contains("functions ("), "progress stays off stdout: {}", run.stdout);
}

#[test]
fn with_json_logs_progress_is_a_log_event() {
    let emu = Emulator::start();
    let dir = many(10, &emu);
    let run = emu.run(&["--log-format", "json", "plan", "-m", path(&dir)]).expect(0);
    let last = run
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .rfind(|v| v["message"] == "progress")
        .unwrap_or_else(|| panic!("no progress event: {}", run.stderr));
    assert_eq!(
        (last["command"].as_str(), last["done"].as_u64(), last["total"].as_u64()),
        (Some("plan"), Some(10), Some(10))
    );
    assert!(run.stderr.lines().all(|l| l.trim().is_empty() || l.starts_with('{')), "stderr stays JSON: {}", run.stderr);
}
