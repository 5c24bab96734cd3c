//! Running `lambda-reconciler run` as a child process, reading its JSON logs, its HTTP endpoints,
//! and a local webhook receiver.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Emulator, REGION, SECRET_KEY};

pub struct Daemon {
    child: Child,
    pub port: u16,
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    /// The arguments of `run` against `emu` (global flags first).
    pub fn args(emu: &Emulator, dir: &str, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> =
            ["--endpoint-url", &emu.endpoint(), "--region", REGION, "--log-format", "json", "run", "-m", dir]
                .iter()
                .map(|s| s.to_string())
                .collect();
        args.extend(["--listen", "127.0.0.1:0", "--debounce", "200ms"].map(String::from));
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    pub fn start(emu: &Emulator, dir: &str, extra: &[&str]) -> Daemon {
        Self::start_as(emu, dir, extra, "AKIDTEST")
    }

    /// A daemon signing with access key `key` (a second replica: AKIDTESTB, under the same policy).
    pub fn start_as(emu: &Emulator, dir: &str, extra: &[&str], key: &str) -> Daemon {
        Self::spawn(Self::command(Command::new(env!("CARGO_BIN_EXE_lambda-reconciler")), emu, dir, extra, key))
    }

    /// `cmd` (the binary, or a wrapper such as `prlimit ... --` before it) given the arguments of
    /// `run` and the environment of a daemon signing with `key`.
    pub fn command(mut cmd: Command, emu: &Emulator, dir: &str, extra: &[&str], key: &str) -> Command {
        cmd.args(Self::args(emu, dir, extra))
            .env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env_remove("AWS_PROFILE")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("RUST_LOG", "debug,hyper=info,h2=info,aws_smithy_runtime=info,aws_config=info,rustls=info,aws_smithy_http_client=info");
        cmd
    }

    /// Starts a prepared `run` command (stderr is read for the JSON logs).
    pub fn spawn(mut cmd: Command) -> Daemon {
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start daemon");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("lambda-reconciler running") {
                    let _ = tx.send(line.clone());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("daemon started");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let port = v["listen"].as_str().unwrap().rsplit(':').next().unwrap().parse().unwrap();
        Daemon { child, port, logs }
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http(self.port, "GET", path, "")
    }

    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("/status").1).unwrap()
    }

    /// The status entry of `manifest`.
    pub fn manifest(&self, manifest: &str) -> serde_json::Value {
        let s = self.status();
        s["manifests"].as_array().unwrap().iter().find(|m| m["manifest"] == manifest).cloned().unwrap_or_default()
    }

    /// Sum of a counter family in /metrics (all label sets).
    pub fn counter(&self, name: &str) -> f64 {
        self.get("/metrics")
            .1
            .lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
            .sum()
    }

    pub async fn wait_ready(&self) {
        super::eventually("daemon ready", Duration::from_secs(60), || async { self.get("/readyz").0 == 200 }).await;
    }

    /// Waits until `n` more reconciles have completed than now.
    pub async fn wait_reconciles(&self, n: f64) {
        let start = self.counter("lambda_reconciler_reconciles_total");
        super::eventually("more reconciles", Duration::from_secs(60), || async {
            self.counter("lambda_reconciler_reconciles_total") >= start + n
        })
        .await;
    }

    pub fn sigterm(&self) {
        let ok = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap().success();
        assert!(ok);
    }

    /// Sends `signal` (STOP, CONT, …) to the process.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    pub fn kill9(&self) {
        let ok = Command::new("kill").args(["-KILL", &self.child.id().to_string()]).status().unwrap().success();
        assert!(ok);
    }

    /// Waits for the process to exit and returns its code (-1 when killed by a signal).
    pub fn wait_exit(&mut self, deadline: Duration) -> i32 {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            assert!(start.elapsed() < deadline, "daemon did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    http_with(port, method, path, body, "")
}

/// [`http`] with extra header lines (each ending in `\r\n`).
pub fn http_with(port: u16, method: &str, path: &str, body: &str, headers: &str) -> (u16, String) {
    let out = http_raw(
        port,
        &format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    let status = out[9..12].parse().unwrap();
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// Sends `request` as it is and returns the whole response, status line and headers included.
pub fn http_raw(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// A local HTTP server that records every request body (the alert webhook).
pub struct Webhook {
    pub url: String,
    pub bodies: Arc<Mutex<Vec<String>>>,
    /// Each request's headers (lower-case names), in the order of `bodies`.
    pub headers: Arc<Mutex<Vec<std::collections::BTreeMap<String, String>>>>,
}

impl Webhook {
    /// `token` is put in the path, as Slack puts its secret in the URL.
    pub fn start(token: &str) -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}/hooks/{token}", listener.local_addr().unwrap().port());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let headers = Arc::new(Mutex::new(Vec::new()));
        let (sink, header_sink) = (bodies.clone(), headers.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let mut reader = BufReader::new(stream);
                let mut len = 0usize;
                let mut seen = std::collections::BTreeMap::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        seen.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                let _ = reader.read_exact(&mut body);
                // Headers first: a reader that sees the body also finds its headers.
                header_sink.lock().unwrap().push(seen);
                sink.lock().unwrap().push(String::from_utf8_lossy(&body).into_owned());
                let _ =
                    reader.get_mut().write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
            }
        });
        Webhook { url, bodies, headers }
    }

    pub fn alerts(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().unwrap().iter().filter_map(|b| serde_json::from_str(b).ok()).collect()
    }

    pub fn count(&self, kind: &str, function: &str) -> usize {
        self.alerts().iter().filter(|a| a["kind"] == kind && (function.is_empty() || a["function"] == function)).count()
    }
}
