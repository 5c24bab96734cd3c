//! Test harness: starts the local AWS emulator on a free port, seeds it, runs the real binary,
//! and gives real SDK clients for reading the resulting state back.
#![allow(dead_code)]

pub mod daemon;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const REGION: &str = "ap-northeast-1";
pub const SECRET_KEY: &str = "emulator-secret-key-never-printed";
pub const SECRET_VALUE: &str = "super-secret-password-123";

pub struct Emulator {
    child: Child,
    pub port: u16,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl Emulator {
    pub fn start() -> Emulator {
        Self::start_on(0)
    }

    /// An emulator handle for `port` with nothing started (an endpoint that is down).
    pub fn unstarted(port: u16) -> Emulator {
        let child = Command::new("true").spawn().unwrap();
        Emulator { child, port }
    }

    /// Starts the emulator on `port` (0: a free one). Its random faults come from a seed that is
    /// printed here (`LAMBDA_RECONCILER_EMULATOR_SEED=N` replays a run's faults).
    pub fn start_on(port: u16) -> Emulator {
        let python = root().join(".venv/bin/python");
        assert!(python.exists(), "run scripts/venv first (scripts/test does)");
        let mut cmd = Command::new(python);
        cmd.arg(root().join("tests/emulator/server.py")).args(["--port", &port.to_string()]);
        if let Ok(seed) = std::env::var("LAMBDA_RECONCILER_EMULATOR_SEED") {
            cmd.args(["--seed", &seed]);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("start emulator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let (port, seed) = line
            .trim()
            .strip_prefix("ready ")
            .and_then(|rest| rest.split_once(" seed "))
            .and_then(|(p, s)| Some((p.parse().ok()?, s.to_string())))
            .unwrap_or_else(|| panic!("emulator said {line:?}"));
        eprintln!("emulator on port {port}, fault seed {seed} (replay: LAMBDA_RECONCILER_EMULATOR_SEED={seed})");
        Emulator { child, port }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A plain HTTP/1.1 request to the emulator's /_ext/ admin API.
    pub fn admin(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        write!(s, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out[9..12].parse().unwrap();
        let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        (status, body)
    }

    /// Creates a function with published versions 1..=versions (moto needs the role first).
    pub fn seed_function(&self, name: &str, versions: u32) {
        let (status, body) = self.admin(
            "POST",
            "/_ext/seed/function",
            &format!(r#"{{"region":"{REGION}","name":"{name}","versions":{versions}}}"#),
        );
        assert_eq!(status, 200, "{body}");
    }

    /// Puts a zip holding `text` at `bucket/key` (a versioned bucket, created when missing);
    /// returns the object's version id, the CodeSha256 Lambda reports for it and the zip in base64.
    pub fn seed_object(&self, bucket: &str, key: &str, text: &str) -> (String, String, String) {
        let body = serde_json::json!({"region": REGION, "bucket": bucket, "key": key, "text": text}).to_string();
        let (status, body) = self.admin("POST", "/_ext/seed/object", &body);
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let field = |k: &str| v[k].as_str().unwrap().to_string();
        (field("VersionId"), field("CodeSha256"), field("ZipFile"))
    }

    /// Pushes an image holding `text` to ECR `repository` under `tag`; with `function`, also
    /// creates that container-image function from it. Returns the URI by digest, the URI by tag
    /// and the CodeSha256 Lambda reports for it (the digest's hex).
    pub fn seed_image(
        &self,
        repository: &str,
        tag: &str,
        text: &str,
        function: Option<&str>,
    ) -> (String, String, String) {
        let body = serde_json::json!({"region": REGION, "repository": repository, "tag": tag, "text": text, "function": function});
        let (status, body) = self.admin("POST", "/_ext/seed/image", &body.to_string());
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let field = |k: &str| v[k].as_str().unwrap().to_string();
        (field("ImageUri"), field("TagUri"), field("CodeSha256"))
    }

    /// Creates SQS queue `name`; returns its ARN.
    pub fn seed_queue(&self, name: &str) -> String {
        let (status, body) =
            self.admin("POST", "/_ext/seed/queue", &format!(r#"{{"region":"{REGION}","name":"{name}"}}"#));
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["QueueArn"].as_str().unwrap().to_string()
    }

    /// A VPC with `subnets` subnets and a security group, made through EC2's API: (subnets, group).
    pub fn seed_vpc(&self, subnets: usize) -> (Vec<String>, String) {
        let body = format!(r#"{{"region":"{REGION}","subnets":{subnets}}}"#);
        let (status, body) = self.admin("POST", "/_ext/seed/vpc", &body);
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let ids = v["SubnetIds"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
        (ids, v["SecurityGroupId"].as_str().unwrap().to_string())
    }

    /// Creates IAM role `name` in `account`; returns its ARN.
    pub fn seed_role(&self, account: &str, name: &str) -> String {
        let (status, body) =
            self.admin("POST", "/_ext/seed/role", &format!(r#"{{"account":"{account}","name":"{name}"}}"#));
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["Arn"].as_str().unwrap().to_string()
    }

    /// Creates a function with published versions 1..=versions in the account of `role`.
    pub fn seed_function_through(&self, name: &str, versions: u32, role: &str) {
        let body = format!(r#"{{"region":"{REGION}","name":"{name}","versions":{versions},"role_arn":"{role}"}}"#);
        let (status, body) = self.admin("POST", "/_ext/seed/function", &body);
        assert_eq!(status, 200, "{body}");
    }

    /// A Lambda client in the account of `role` (assumed through the emulator's STS).
    pub async fn lambda_through(&self, role: &str) -> aws_sdk_lambda::Client {
        let base = self.sdk().await;
        let provider =
            aws_config::sts::AssumeRoleProvider::builder(role).session_name("test").configure(&base).build().await;
        let cfg = base
            .to_builder()
            .credentials_provider(aws_sdk_lambda::config::SharedCredentialsProvider::new(provider))
            .build();
        aws_sdk_lambda::Client::new(&cfg)
    }

    /// The events queue `name` with the rules of manifests/deploy/cloudformation/events.yaml
    /// (their own patterns) sending to it; returns the queue URL.
    pub fn seed_events(&self, name: &str) -> String {
        self.seed_events_through(name, None)
    }

    /// [`Emulator::seed_events`] in the account of `role` (when given).
    pub fn seed_events_through(&self, name: &str, role: Option<&str>) -> String {
        let role = role.map(|r| format!(r#","role_arn":"{r}""#)).unwrap_or_default();
        let (status, body) =
            self.admin("POST", "/_ext/seed/events", &format!(r#"{{"region":"{REGION}","name":"{name}"{role}}}"#));
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["QueueUrl"].as_str().unwrap().to_string()
    }

    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk().await)
    }

    /// Publishes a version of layer `name`; returns its LayerVersionArn.
    pub fn seed_layer(&self, name: &str) -> String {
        let (status, body) =
            self.admin("POST", "/_ext/seed/layer", &format!(r#"{{"region":"{REGION}","name":"{name}"}}"#));
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["LayerVersionArn"].as_str().unwrap().to_string()
    }

    pub fn configure(&self, json: &str) {
        assert_eq!(self.admin("POST", "/_ext/config", json).0, 200);
    }

    /// Requests the emulator received: (method, path, x-amz-target).
    pub fn requests(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.admin("GET", "/_ext/requests", "").1).unwrap()
    }

    pub fn clear_requests(&self) {
        self.admin("DELETE", "/_ext/requests", "");
    }

    /// Write calls received (Lambda non-GET, JSON-protocol targets other than Get/List/Describe).
    pub fn write_calls(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter_map(|r| {
                let target = r["target"].as_str().unwrap_or("");
                let rpc = r["path"].as_str().unwrap_or("").split("/operation/").nth(1).unwrap_or("");
                let op = if rpc.is_empty() { target.rsplit('.').next().unwrap_or("") } else { rpc };
                let method = r["method"].as_str().unwrap_or("");
                let write = if target.is_empty() && rpc.is_empty() {
                    method != "GET"
                } else {
                    !["Get", "List", "Describe"].iter().any(|p| op.starts_with(p))
                };
                write.then(|| format!("{method} {} {target}", r["path"].as_str().unwrap_or("")))
            })
            .collect()
    }

    /// The binary with `args`, as the controller (key AKIDTEST) against this emulator.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lambda-reconciler"));
        cmd.args(["--endpoint-url", &self.endpoint(), "--region", REGION])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env_remove("AWS_PROFILE")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("RUST_LOG", "lambda_reconciler=debug");
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().expect("run binary"))
    }

    pub async fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.sdk().await)
    }

    /// A metric alarm named `name` (state INSUFFICIENT_DATA until set).
    pub async fn put_alarm(&self, name: &str) {
        use aws_sdk_cloudwatch::types::{ComparisonOperator, Statistic};
        self.cloudwatch()
            .await
            .put_metric_alarm()
            .alarm_name(name)
            .namespace("AWS/Lambda")
            .metric_name("Errors")
            .statistic(Statistic::Sum)
            .period(60)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
            .send()
            .await
            .unwrap();
    }

    /// Sets an alarm's state as CloudWatch would on evaluation (SetAlarmState).
    pub async fn set_alarm(&self, name: &str, state: &str) {
        self.cloudwatch()
            .await
            .set_alarm_state()
            .alarm_name(name)
            .state_value(aws_sdk_cloudwatch::types::StateValue::from(state))
            .state_reason("set by the test")
            .send()
            .await
            .unwrap();
    }

    pub async fn sdk(&self) -> aws_config::SdkConfig {
        // The tests' own key: the emulator checks only the controller's (AKIDTEST) against a policy.
        let creds = aws_sdk_lambda::config::Credentials::new("AKIDADMIN", SECRET_KEY, None, None, "test");
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(self.endpoint())
            .credentials_provider(creds)
            .http_client(
                aws_smithy_http_client::Builder::new()
                    .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                        aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https(),
            )
            .load()
            .await
    }

    pub async fn lambda(&self) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(&self.sdk().await)
    }

    pub async fn scaling(&self) -> aws_sdk_applicationautoscaling::Client {
        aws_sdk_applicationautoscaling::Client::new(&self.sdk().await)
    }

    pub async fn put_parameter(&self, name: &str, value: &str, secure: bool) {
        let t = if secure {
            aws_sdk_ssm::types::ParameterType::SecureString
        } else {
            aws_sdk_ssm::types::ParameterType::String
        };
        aws_sdk_ssm::Client::new(&self.sdk().await)
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(t)
            .overwrite(true)
            .send()
            .await
            .unwrap();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into(),
            stderr: String::from_utf8_lossy(&o.stderr).into(),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(self.code, code, "exit code\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// A temp manifest directory holding `files` (name → YAML).
pub fn manifests(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

pub fn path(dir: &tempfile::TempDir) -> &str {
    dir.path().to_str().unwrap()
}

/// The reserved concurrency of function `f` in the tests' region, if it exists and has one.
pub async fn reserved(emu: &Emulator, f: &str) -> Option<i32> {
    reserved_in(emu, REGION, f).await
}

/// The reserved concurrency of function `f` in `region`, if the function exists and has one.
pub async fn reserved_in(emu: &Emulator, region: &str, f: &str) -> Option<i32> {
    let sdk = emu.sdk().await;
    let conf =
        aws_sdk_lambda::config::Builder::from(&sdk).region(aws_sdk_lambda::config::Region::new(region.to_string()));
    let out = aws_sdk_lambda::Client::from_conf(conf.build()).get_function().function_name(f).send().await.ok()?;
    out.concurrency().and_then(|c| c.reserved_concurrent_executions())
}

/// Waits for `cond` with a deadline (no fixed sleeps as synchronisation).
pub async fn eventually<F, Fut>(what: &str, deadline: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !cond().await {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The environment variable `name` of an exported manifest, as parsed YAML.
pub fn exported_var(yaml_text: &str, name: &str) -> serde_json::Value {
    let doc = lambda_reconciler::manifest::yaml::parse(yaml_text).unwrap().remove(0).value;
    doc["spec"]["environment"]["variables"][name].clone()
}

pub fn read_example() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/examples/handson-function.yaml"))
        .unwrap()
}
