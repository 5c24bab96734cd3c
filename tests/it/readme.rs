//! The README's command summary cannot fall behind `--help`: every subcommand and every flag its
//! help lists is in the summary, on that subcommand's lines (the global ones on the `global:` line).

use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_lambda-reconciler")).args(args).arg("--help").output().unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// The flags an option list names: each long one (`--name`) with its short form (`-n`) if any,
/// `--help` and `--version` left out.
fn flags(help: &str) -> Vec<(String, Option<String>)> {
    help.lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().map(|w| w.trim_end_matches(',')).collect();
            let long = words.iter().find(|w| w.starts_with("--"))?.to_string();
            let short = words.first().filter(|w| !w.starts_with("--")).map(|w| w.to_string());
            Some((long, short))
        })
        .filter(|(f, _)| f != "--help" && f != "--version")
        .collect()
}

/// Whether `lines` name the flag, by its long or its short form.
fn names(lines: &str, (long, short): &(String, Option<String>)) -> bool {
    let named = |f: &str| [" ", "]", "\n"].iter().any(|end| lines.contains(&format!("{f}{end}")));
    named(long) || short.as_deref().is_some_and(named)
}

/// The lines of the summary (the README's first code block) for `lambda-reconciler CMD`: its
/// line and the indented lines after it.
fn section(summary: &str, command: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in summary.lines() {
        if line.starts_with("lambda-reconciler ") || line.starts_with("global:") {
            inside = line.split_whitespace().nth(1) == Some(command)
                || (command == "global:" && line.starts_with("global:"));
        }
        if inside {
            out += line;
            out.push('\n');
        }
    }
    out
}

#[test]
fn the_readme_command_summary_names_every_command_and_flag_of_the_help() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let summary = readme.split("```").nth(1).expect("the README opens with the command summary");
    let top = help(&[]);
    let global = flags(&top);
    for f in &global {
        assert!(names(&section(summary, "global:"), f), "global flag {} missing from the summary", f.0);
    }
    let commands: Vec<&str> = top
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("Options:")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 10, "{commands:?}");
    for c in commands {
        let lines = section(summary, c);
        assert!(!lines.is_empty(), "`lambda-reconciler {c}` missing from the README's summary");
        for f in flags(&help(&[c])).iter().filter(|f| !global.contains(f)) {
            assert!(names(&lines, f), "{c} {} missing from the README's summary:\n{lines}", f.0);
        }
    }
}
