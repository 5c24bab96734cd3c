//! The admin listener against hostile clients: cross-site and DNS-rebinding requests, a flood of half-sent connections, and /status in pages.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use crate::common::daemon::{http_raw, http_with, Daemon};
use crate::common::*;

const MINUTE: Duration = Duration::from_secs(60);
const F: &str = "app-guarded";

fn doc(name: &str, spec: &str) -> String {
    format!("apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\nspec:\n{spec}")
}

/// The alias `live`'s version and weights.
async fn live(emu: &Emulator) -> (String, BTreeMap<String, f64>) {
    let a = emu.lambda().await.get_alias().function_name(F).name("live").send().await.unwrap();
    let w = a.routing_config().and_then(|r| r.additional_version_weights()).cloned().unwrap_or_default();
    (a.function_version().unwrap_or_default().to_string(), w.into_iter().collect())
}

#[tokio::test]
async fn a_cross_site_form_or_a_rebinding_host_cannot_operate_and_the_cli_still_promotes() {
    let emu = Emulator::start();
    emu.seed_function(F, 2);
    emu.lambda().await.create_alias().function_name(F).name("live").function_version("1").send().await.unwrap();
    let spec =
        "  aliases:\n    live:\n      functionVersion: \"2\"\n      deployment: {steps: [{weight: 10, pause: 10m}]}\n";
    let dir = manifests(&[("f.yaml", &doc(F, spec))]);
    let daemon = Daemon::start(&emu, path(&dir), &["--admin-allowed-host", "reconciler.internal"]);
    let shifting = || async {
        let r = &daemon.manifest(F)["rollouts"][0];
        r["phase"] == "Shifting" && r["weight"] == 10.0
    };
    eventually("the first step", MINUTE, shifting).await;
    let promote = format!("/rollouts/{REGION}/{F}/live/promote");
    let port = daemon.port;

    // Another site's form, posted by the operator's browser.
    let form = "Content-Type: application/x-www-form-urlencoded\r\nOrigin: https://attacker.example\r\nSec-Fetch-Site: cross-site\r\n";
    let (code, body) = http_with(port, "POST", &promote, "go=1", form);
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("cross-origin"), "a short reason: {body}");
    let fetch = "Content-Type: application/json\r\nOrigin: https://attacker.example\r\n";
    assert_eq!(http_with(port, "POST", &promote, "{}", fetch).0, 403, "a foreign Origin, whatever the type");
    assert_eq!(http_with(port, "POST", &promote, "{}", "").0, 403, "no Content-Type: application/json");
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(5000));
    assert_eq!(http_with(port, "POST", &promote, &big, "Content-Type: application/json\r\n").0, 413);
    // A page of attacker.example rebound to this address: same origin for the browser.
    let rebound = |method: &str, path: &str, headers: &str| {
        let request = format!("{method} {path} HTTP/1.1\r\nHost: attacker.example:{port}\r\n{headers}Content-Length: 2\r\nConnection: close\r\n\r\n{{}}");
        http_raw(port, &request)
    };
    let raw = rebound(
        "POST",
        &promote,
        &format!("Content-Type: application/json\r\nOrigin: http://attacker.example:{port}\r\n"),
    );
    assert!(raw.starts_with("HTTP/1.1 403") && raw.contains("Host"), "{raw}");
    assert!(rebound("GET", "/status", "").starts_with("HTTP/1.1 403"), "nor can it read /status");
    assert!(rebound("GET", "/", "").starts_with("HTTP/1.1 403"), "or the page");
    assert!(rebound("GET", "/healthz", "").starts_with("HTTP/1.1 200"), "probes answer any Host");
    let named = format!("GET /status HTTP/1.1\r\nHost: reconciler.internal:{port}\r\nConnection: close\r\n\r\n");
    assert!(http_raw(port, &named).starts_with("HTTP/1.1 200"), "an --admin-allowed-host name is served");

    assert!(shifting().await, "the rollout is unchanged: {}", daemon.manifest(F));
    assert_eq!(live(&emu).await, ("1".into(), BTreeMap::from([("2".to_string(), 0.1)])));
    let server = format!("http://127.0.0.1:{port}");
    let run = emu.run(&["promote", "--function", F, "--alias", "live", "--server", &server]).expect(0);
    assert!(run.stdout.contains("promoted"), "{}", run.all());
    eventually("version 2 at 100 %", MINUTE, || async { live(&emu).await == ("2".into(), BTreeMap::new()) }).await;
}

/// The daemon's last log lines.
fn tail(daemon: &Daemon) -> String {
    let logs = daemon.logs.lock().unwrap();
    logs[logs.len().saturating_sub(20)..].join("\n")
}

/// Raises this process's soft limit on open files to `n` (within the hard limit) when below.
fn at_least_open_files(n: u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (soft, hard) = (fields[3].parse::<u64>().unwrap_or(u64::MAX), fields[4].parse::<u64>().unwrap_or(u64::MAX));
    if soft < n {
        let pid = std::process::id().to_string();
        let ok = Command::new("prlimit").args(["--pid", &pid, &format!("--nofile={}:", n.min(hard))]).status();
        assert!(ok.unwrap().success(), "prlimit");
    }
}

#[tokio::test]
async fn probes_answer_through_a_thousand_half_sent_connections_which_the_header_timeout_then_closes() {
    at_least_open_files(4096);
    let emu = Emulator::start();
    emu.seed_function("app-flooded", 1);
    let dir = manifests(&[("f.yaml", &doc("app-flooded", "  reservedConcurrency: 1\n"))]);
    // The daemon under a file limit a flood without a connection limit would exhaust, with a
    // header timeout that leaves the flood in place while the probe is asked (it answers at once).
    let mut prlimit = Command::new("prlimit");
    prlimit.args(["--nofile=100", "--", env!("CARGO_BIN_EXE_lambda-reconciler")]);
    let extra = ["--admin-header-timeout", "20s"];
    let daemon = Daemon::spawn(Daemon::command(prlimit, &emu, path(&dir), &extra, "AKIDTEST"));
    let port = daemon.port;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let half_sent: Vec<TcpStream> = (0..1000)
        .map(|_| {
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("the listener keeps accepting: {e}\n{}", tail(&daemon)));
            s.write_all(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n").unwrap();
            s
        })
        .collect();
    let healthz = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).map(|_| out)
    });
    let answer = healthz.await.unwrap().expect("/healthz answers while 1,000 connections are held");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let still_open = tokio::task::spawn_blocking(move || {
        // One deadline for all: each socket waits what is left of it.
        let deadline = std::time::Instant::now() + MINUTE;
        let closed = |mut s: &TcpStream| {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            s.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
            let timed_out = |e: &std::io::Error| matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut);
            !s.read_to_end(&mut Vec::new()).is_err_and(|e| timed_out(&e))
        };
        half_sent.iter().filter(|s| !closed(s)).count()
    });
    assert_eq!(still_open.await.unwrap(), 0, "every half-sent connection is closed by the server");
}

#[tokio::test]
async fn status_is_served_in_pages_and_the_status_command_follows_every_page() {
    let emu = Emulator::start();
    let n: usize = 501;
    let docs: Vec<(String, String)> =
        (0..n).map(|i| (format!("m{i:03}.yaml"), doc(&format!("app-p{i:03}"), "  reservedConcurrency: 1\n"))).collect();
    let refs: Vec<(&str, &str)> = docs.iter().map(|(f, d)| (f.as_str(), d.as_str())).collect();
    let dir = manifests(&refs);
    let fast = ["--resync-interval", "1h", "--aws-rps", "0", "--max-concurrent-reconciles", "16"];
    let daemon = Daemon::start(&emu, path(&dir), &fast);
    eventually("every manifest in /status", MINUTE, || async { daemon.status()["total"] == n }).await;
    let first = daemon.status();
    let names = |page: &serde_json::Value| page["manifests"].as_array().unwrap().len();
    assert_eq!((names(&first), first["next"].as_u64()), (100, Some(100)), "the default page");
    let page = |q: &str| -> serde_json::Value { serde_json::from_str(&daemon.get(&format!("/status?{q}")).1).unwrap() };
    let big = page("limit=100000");
    assert_eq!((names(&big), big["limit"].as_u64(), big["next"].as_u64()), (500, Some(500), Some(500)));
    let last = page("offset=500&limit=500");
    assert_eq!((names(&last), last["next"].is_null()), (1, true));
    assert_eq!(last["manifests"][0]["manifest"], "app-p500", "a stable order");
    assert_eq!(daemon.get("/status?limit=lots").0, 400);
    let server = format!("http://127.0.0.1:{}", daemon.port);
    let table = emu.run(&["status", "--server", &server]).expect(0);
    let rows = table.stdout.lines().filter(|l| l.starts_with("app-p")).count();
    assert_eq!(rows, n, "{}", table.stdout);
    let json = emu.run(&["status", "--server", &server, "-o", "json"]).expect(0);
    let doc: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(doc["manifests"].as_array().unwrap().len(), n);
}

/// A command's head that promises a 4 KiB body and sends none; what the listener answers first.
fn command_head_without_body(port: u16, headers: &str) -> (TcpStream, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let head = format!("POST /rollouts/{REGION}/x/live/promote HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Content-Type: application/json\r\nContent-Length: 4096\r\nExpect: 100-continue\r\n\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap_or(0);
    (s, String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[tokio::test]
async fn probes_answer_while_every_connection_holds_a_command_whose_body_never_comes() {
    let emu = Emulator::start();
    emu.seed_function("app-trickled", 1);
    let dir = manifests(&[("f.yaml", &doc("app-trickled", "  reservedConcurrency: 1\n"))]);
    // Under 100 open files the listener keeps 50 connections; without a token (the default)
    // anyone may send a command, so its body is read for anyone.
    let mut prlimit = Command::new("prlimit");
    prlimit.args(["--nofile=100", "--", env!("CARGO_BIN_EXE_lambda-reconciler")]);
    let daemon = Daemon::spawn(Daemon::command(prlimit, &emu, path(&dir), &[], "AKIDTEST"));
    daemon.wait_ready().await;
    let held: Vec<TcpStream> = (0..50)
        .map(|_| {
            let (s, first) = command_head_without_body(daemon.port, "");
            assert!(first.contains("100 Continue"), "the body is being read: {first:?}");
            s
        })
        .collect();
    let port = daemon.port;
    let answer = tokio::task::spawn_blocking(move || {
        http_raw(port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    });
    let answer = answer.await.unwrap();
    drop(held);
    assert!(answer.starts_with("HTTP/1.1 200"), "/healthz answers while command bodies never come: {answer:?}");

    // With a token, a command without it is refused before its body is read.
    let token = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token.path(), "s3cret-admin-token\n").unwrap();
    let guarded = Daemon::start(&emu, path(&dir), &["--admin-token-file", token.path().to_str().unwrap()]);
    let (_s, first) = command_head_without_body(guarded.port, "");
    assert!(first.starts_with("HTTP/1.1 401"), "refused at once, body unread: {first:?}");
}

#[test]
fn status_against_a_hostile_server_stops_at_its_byte_budget_and_prints_no_control_characters() {
    use std::io::BufRead;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Each page holds one entry of 1 MiB and says the next follows: forever.
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let mut reader = std::io::BufReader::new(stream);
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let offset: usize = first
                .split("offset=")
                .nth(1)
                .and_then(|o| o.split('&').next())
                .and_then(|o| o.parse().ok())
                .unwrap_or(0);
            let body = format!(
                r#"{{"ready":true,"role":"single","manifests":[{{"manifest":"m\u001b[31m{}","sync":"Synced"}}],"next":{}}}"#,
                "x".repeat(1 << 20),
                offset + 1
            );
            let mut s = reader.into_inner();
            let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    let bin = env!("CARGO_BIN_EXE_lambda-reconciler");
    let out = Command::new(bin).args(["status", "--server", &format!("http://127.0.0.1:{port}")]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("over 67108864 bytes in all"), "{stderr}");

    // A short hostile answer is printed, its escape sequence made harmless.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let mut reader = std::io::BufReader::new(stream);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                line.clear();
            }
            let body =
                r#"{"ready":true,"role":"single","manifests":[{"manifest":"m\u001b]0;owned\u0007","sync":"Synced"}]}"#;
            let mut s = reader.into_inner();
            let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    let out = Command::new(bin).args(["status", "--server", &format!("http://127.0.0.1:{port}")]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("m?]0;owned?") && !stdout.contains('\u{1b}'), "{stdout:?}");
}
