//! A hostile alert webhook (an endless answer, headers then silence): each attempt ends, its outcome is counted, and a later alert is still delivered.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::daemon::Daemon;
use crate::common::*;

const MINUTE: Duration = Duration::from_secs(60);

fn doc(name: &str) -> String {
    format!("apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\nspec:\n  reservedConcurrency: 1\n")
}

#[derive(Clone, Copy)]
enum Hostility {
    /// `200 OK` and a body that never ends (1 KiB every 10 ms).
    EndlessBody,
    /// `200 OK` with a length, then nothing until the client goes.
    HeadersThenSilence,
}

/// A webhook that is hostile to every alert naming `trigger` and answers the others `200`,
/// recording their bodies; `hostile` counts the hostile answers begun.
struct HostileWebhook {
    url: String,
    bodies: Arc<Mutex<Vec<String>>>,
    hostile: Arc<Mutex<usize>>,
}

impl HostileWebhook {
    fn start(trigger: &'static str, how: Hostility) -> HostileWebhook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}/hook", listener.local_addr().unwrap().port());
        let (bodies, hostile) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(0)));
        let (b, h) = (bodies.clone(), hostile.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (b, h) = (b.clone(), h.clone());
                std::thread::spawn(move || answer(stream, trigger, how, &b, &h));
            }
        });
        HostileWebhook { url, bodies, hostile }
    }

    fn delivered(&self, needle: &str) -> bool {
        self.bodies.lock().unwrap().iter().any(|b| b.contains(needle))
    }
}

fn answer(stream: TcpStream, trigger: &str, how: Hostility, bodies: &Mutex<Vec<String>>, hostile: &Mutex<usize>) {
    let mut reader = BufReader::new(stream);
    let mut len = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    let _ = reader.read_exact(&mut body);
    let body = String::from_utf8_lossy(&body).into_owned();
    let mut s = reader.into_inner();
    if !body.contains(trigger) {
        bodies.lock().unwrap().push(body);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        return;
    }
    *hostile.lock().unwrap() += 1;
    match how {
        Hostility::EndlessBody => {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n");
            while s.write_all(&[b'x'; 1024]).is_ok() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Hostility::HeadersThenSilence => {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
            // Silent until the client closes.
            let _ = s.read_to_end(&mut Vec::new());
        }
    }
}

/// Starts a daemon alerting `hook` about `first` (a function that does not exist); once the hook
/// is hostile to that alert, adds a manifest for `later` and waits for its alert to arrive.
async fn a_later_alert_arrives(
    hook: &HostileWebhook,
    first: &str,
    later: &str,
    extra: &[&str],
) -> (Daemon, Emulator, tempfile::TempDir) {
    let emu = Emulator::start();
    let dir = manifests(&[("first.yaml", &doc(first))]);
    let mut args = vec!["--resync-interval", "1h", "--alert-webhook", &hook.url];
    args.extend(extra);
    let daemon = Daemon::start(&emu, path(&dir), &args);
    eventually("the hostile answer begun", MINUTE, || async { *hook.hostile.lock().unwrap() > 0 }).await;
    std::fs::write(dir.path().join("later.yaml"), doc(later)).unwrap();
    eventually("the later alert delivered", MINUTE, || async { hook.delivered(later) }).await;
    (daemon, emu, dir)
}

#[tokio::test]
async fn a_webhook_answering_an_endless_body_is_cut_off_counted_and_later_alerts_are_delivered() {
    let hook = HostileWebhook::start("app-endless", Hostility::EndlessBody);
    let (daemon, _emu, _dir) = a_later_alert_arrives(&hook, "app-endless", "app-after-endless", &[]).await;
    let cut = r#"lambda_reconciler_webhook_deliveries_total{outcome="body_too_large"}"#;
    assert!(daemon.counter(cut) >= 1.0, "{}", daemon.get("/metrics").1);
    assert!(daemon.counter(r#"lambda_reconciler_webhook_deliveries_total{outcome="ok"}"#) >= 1.0);
    assert!(!hook.delivered("app-endless"), "the hostile alert is never counted as delivered");
    assert_eq!(*hook.hostile.lock().unwrap(), 1, "answered 2xx: received, never sent again (no duplicates)");
}

#[tokio::test]
async fn a_webhook_that_sends_headers_then_stalls_does_not_block_later_alerts() {
    let hook = HostileWebhook::start("app-stalled", Hostility::HeadersThenSilence);
    let timeout = ["--alert-webhook-timeout", "1s"];
    let (daemon, _emu, _dir) = a_later_alert_arrives(&hook, "app-stalled", "app-after-stall", &timeout).await;
    let timeouts = daemon.counter(r#"lambda_reconciler_webhook_deliveries_total{outcome="timeout"}"#);
    assert!(timeouts >= 1.0, "{}", daemon.get("/metrics").1);
    assert!(daemon.counter(r#"lambda_reconciler_webhook_deliveries_total{outcome="ok"}"#) >= 1.0);
    assert!(
        daemon.counter(r#"lambda_reconciler_alerts_total{sink="webhook",outcome="failed"}"#) >= 1.0,
        "the stalled alert gave up after its attempts"
    );
}
