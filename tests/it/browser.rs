//! The status page in a real browser: Debian's Chromium, headless, loads `/` from a running
//! daemon against the emulator, with one manifest in each state the page must show (Synced,
//! OutOfSync with drift, Error, a rollout in progress); the test reads the DOM Chromium built
//! (`--dump-dom`) and saves screenshots at 1280 px and at a phone's width under
//! `$CARGO_TARGET_TMPDIR/browser/`. `.ci/run` installs Chromium (and then requires it); where
//! none can be installed the test says so and is skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::daemon::Daemon;
use crate::common::*;

const MINUTE: Duration = Duration::from_secs(60);

fn doc(name: &str, labels: &str, body: &str) -> String {
    format!("apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\n{labels}spec:\n{body}")
}

/// The browser: `$CHROMIUM`, else the first of Debian's and other usual names on the PATH.
fn chromium() -> Option<PathBuf> {
    let named = std::env::var_os("CHROMIUM").map(PathBuf::from);
    let usual = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"].into_iter().find_map(|n| {
        std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(n)).find(|p| p.is_file())
    });
    named.filter(|p| p.is_file()).or(usual)
}

/// Runs headless Chromium on `url` with `args` (a fresh profile, no network beyond loopback);
/// returns its stdout. A browser that hangs is killed after a minute.
fn browse(browser: &Path, profile: &Path, args: &[&str], url: &str) -> String {
    let child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(MINUTE);
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    });
    let out = child.wait_with_output().unwrap();
    drop(watchdog);
    assert!(out.status.success(), "chromium {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The `<tr>` of manifest `name` in a DOM dump.
fn row<'a>(dom: &'a str, name: &str) -> &'a str {
    let start = dom.find(&format!("data-manifest=\"{name}\"")).unwrap_or_else(|| panic!("no row for {name}:\n{dom}"));
    let end = dom[start..].find("</tr>").unwrap();
    &dom[start..start + end]
}

#[tokio::test]
async fn a_headless_browser_shows_synced_drifted_failed_and_rolling_manifests() {
    let Some(browser) = chromium() else {
        // .ci/run sets this once it has installed Chromium: there, a missing browser is a failure.
        assert!(
            std::env::var_os("LAMBDA_RECONCILER_REQUIRE_BROWSER").is_none(),
            "Chromium was installed but is not found"
        );
        eprintln!(
            "SKIPPED a_headless_browser_shows_synced_drifted_failed_and_rolling_manifests: no Chromium \
             (install Debian's `chromium` package, as .ci/run does, or set CHROMIUM=/path/to/chrome)"
        );
        return;
    };
    let emu = Emulator::start();
    emu.seed_function("ui-synced", 1);
    emu.seed_function("ui-drift", 1);
    emu.seed_function("ui-rollout", 2);
    emu.lambda()
        .await
        .create_alias()
        .function_name("ui-rollout")
        .name("live")
        .function_version("1")
        .send()
        .await
        .unwrap();
    let rollout =
        "  aliases:\n    live:\n      functionVersion: \"2\"\n      deployment: {steps: [{weight: 10, pause: 10m}]}\n";
    let dir = manifests(&[
        ("synced.yaml", &doc("ui-synced", "  labels: {team: payments}\n", "  reservedConcurrency: 1\n")),
        ("drift.yaml", &doc("ui-drift", "", "  driftPolicy: alert\n  reservedConcurrency: 3\n")),
        ("missing.yaml", &doc("ui-missing", "", "  reservedConcurrency: 1\n")),
        ("rollout.yaml", &doc("ui-rollout", "", rollout)),
    ]);
    // The revision a CI job or git-sync names: "synced to" it in the header, and in each row
    // the revision that applied the function's configuration.
    let rev = "3f2a9c1d0e5b4a6978877665544332211000aabb";
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "300ms", "--revision", rev]);
    eventually("the drifted function configured first", MINUTE, || async {
        daemon.manifest("ui-drift")["sync"] == "Synced"
    })
    .await;
    emu.lambda()
        .await
        .put_function_concurrency()
        .function_name("ui-drift")
        .reserved_concurrent_executions(9)
        .send()
        .await
        .unwrap();
    eventually("one manifest in each state", MINUTE, || async {
        let s = |m: &str| daemon.manifest(m)["sync"].as_str().unwrap_or("").to_string();
        (s("ui-synced"), s("ui-drift"), s("ui-missing"), s("ui-rollout"))
            == ("Synced".into(), "OutOfSync".into(), "Error".into(), "Progressing".into())
            && daemon.manifest("ui-rollout")["rollouts"][0]["weight"] == 10.0
    })
    .await;

    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&out).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}/", daemon.port);
    let dom = browse(&browser, profile.path(), &["--dump-dom"], &url);
    assert!(dom.contains("<h1>lambda-reconciler</h1>") && !dom.contains("<script"), "{dom}");
    assert!(dom.contains("synced to <code id=\"revision\">3f2a9c1</code>"), "{dom}");
    assert!(row(&dom, "ui-synced").contains("class=\"sync Synced\""));
    assert!(row(&dom, "ui-synced").contains(" from 3f2a9c1"), "{}", row(&dom, "ui-synced"));
    let drift = row(&dom, "ui-drift");
    assert!(
        drift.contains("class=\"sync OutOfSync\"") && drift.contains("<code>reservedConcurrency</code>"),
        "{drift}"
    );
    assert!(
        drift.contains("<b class=\"desired\">3</b>") && drift.contains("<b class=\"actual\">9</b>"),
        "git 3, AWS 9: {drift}"
    );
    let failed = row(&dom, "ui-missing");
    assert!(failed.contains("class=\"sync Error\"") && failed.contains("function `ui-missing` not found"), "{failed}");
    let rolling = row(&dom, "ui-rollout");
    assert!(rolling.contains("class=\"sync Progressing\"") && rolling.contains("class=\"bar\""), "{rolling}");
    assert!(rolling.contains("live 1 → 2: Shifting step 1/1, 10%") && rolling.contains("next step 20"), "{rolling}");
    let problems: Vec<usize> = ["ui-missing", "ui-drift", "ui-rollout", "ui-synced"]
        .iter()
        .map(|m| dom.find(&format!("data-manifest=\"{m}\"")).unwrap())
        .collect();
    assert!(problems.is_sorted(), "Error, OutOfSync, Progressing, then Synced: {problems:?}");
    let alerts = &dom[dom.find("id=\"alerts\"").expect("the recent alerts")..];
    assert!(alerts.contains("data-kind=\"Drift\"") && alerts.contains("drift on ui-drift"), "{alerts}");

    let team = browse(&browser, profile.path(), &["--dump-dom"], &format!("{url}?label=team%3Dpayments"));
    assert_eq!(team.matches("<tr data-manifest").count(), 1, "{team}");
    assert!(team.contains("data-manifest=\"ui-synced\""));

    for (name, size) in [("status-1280.png", "1280,900"), ("status-phone.png", "390,844")] {
        let shot = out.join(name);
        let _ = std::fs::remove_file(&shot);
        browse(
            &browser,
            profile.path(),
            &[&format!("--screenshot={}", shot.display()), &format!("--window-size={size}")],
            &url,
        );
        let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("{}: {e}", shot.display()));
        assert!(png.starts_with(b"\x89PNG"), "{} is a PNG", shot.display());
        eprintln!("screenshot: {}", shot.display());
    }
}
