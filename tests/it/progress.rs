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

#[tokio::test]
async fn apply_says_what_rollout_pause_it_waits_for_and_stays_json_with_json_logs() {
    let emu = Emulator::start();
    emu.seed_function("app-paused", 2);
    let lambda = emu.lambda().await;
    lambda.create_alias().function_name("app-paused").name("live").function_version("1").send().await.unwrap();
    let doc = "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: app-paused\nspec:\n  aliases:\n    live:\n      functionVersion: \"2\"\n      deployment: {steps: [{weight: 10, pause: 1s}]}\n";
    let dir = manifests(&[("paused.yaml", doc)]);
    let run = emu.run(&["--log-format", "json", "apply", "-m", path(&dir)]).expect(0);
    let events: Vec<serde_json::Value> =
        run.stderr.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).collect();
    let wait = events.iter().find(|v| v["waiting_for"] == "rollout pause").unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(wait["function"] == "app-paused" && wait["until"].as_str().is_some_and(|u| u.ends_with('Z')), "{wait}");
    assert!(
        events.iter().any(|v| v["message"] == "rollout" && v["milestone"] == "rollout to 2 succeeded"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.lines().all(|l| l.trim().is_empty() || l.starts_with('{')), "stderr stays JSON: {}", run.stderr);
}

/// `s` without terminal escape sequences (colours, line clears, cursor moves).
fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn on_a_terminal_log_lines_are_written_above_the_bar_never_into_it() {
    let emu = Emulator::start();
    let dir = many(12, &emu);
    let inner = emu.command(&["apply", "-m", path(&dir)]);
    let words: Vec<String> = std::iter::once(inner.get_program())
        .chain(inner.get_args())
        .map(|a| format!("'{}'", a.to_str().unwrap().replace('\'', r"'\''")))
        .collect();
    // `script` runs the command on a pseudo-terminal, so it draws the bar, and records the screen.
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qefc", &words.join(" "), "/dev/null"]);
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = cmd.output().expect("script (util-linux)");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(screen.contains("/12 functions,"), "the bar was drawn: {screen}");
    // What each terminal line ends up showing: the text after its last carriage return.
    let shown: Vec<String> =
        screen.split('\n').map(|l| strip_ansi(l.trim_end_matches('\r').rsplit('\r').next().unwrap_or(""))).collect();
    let logs: Vec<&String> = shown.iter().filter(|l| l.contains(" INFO ") || l.contains(" DEBUG ")).collect();
    assert!(logs.len() >= 12, "{shown:#?}");
    for l in logs {
        assert!(l.trim_start().starts_with("20"), "a log line drawn into the bar: {l:?}");
    }
}
