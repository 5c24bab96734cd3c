//! The deployment files under manifests/deploy/ and the Dockerfile: they parse, carry the keys
//! their platform needs, use only flags the binary really has, and the IAM policies list exactly
//! the actions the controller calls.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use lambda_reconciler::manifest::yaml;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn yaml_docs(rel: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(root().join(rel)).unwrap();
    yaml::parse(&text).unwrap_or_else(|e| panic!("{rel}: {e:?}")).into_iter().map(|d| d.value).collect()
}

fn json(rel: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join(rel)).unwrap()).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn help(subcommand: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_lambda-reconciler")).args([subcommand, "--help"]).output().unwrap();
    assert!(out.status.success(), "{subcommand} --help");
    String::from_utf8(out.stdout).unwrap()
}

/// Asserts that `args` (subcommand first) uses only flags that subcommand accepts.
#[track_caller]
fn assert_real_flags(args: &[String], context: &str) {
    let sub = &args[0];
    let text = help(sub);
    for a in &args[1..] {
        if let Some(flag) = a.strip_prefix("--") {
            let name = flag.split('=').next().unwrap();
            assert!(text.contains(&format!("--{name}")), "{context}: `{sub}` has no flag --{name}");
        }
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn every_deployment_file_parses() {
    let mut files = vec![];
    files_under(&root().join("manifests/deploy"), &mut files);
    assert!(files.len() >= 9);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        match f.extension().and_then(|e| e.to_str()) {
            Some("json") => {
                drop(serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display())))
            }
            Some("yaml" | "yml") => drop(yaml::parse(&text).unwrap_or_else(|e| panic!("{}: {e:?}", f.display()))),
            _ => panic!("unexpected file {}", f.display()),
        }
    }
}

#[test]
fn the_kubernetes_deployment_runs_two_non_root_read_only_replicas_beside_git_sync_with_one_writer() {
    let d = &yaml_docs("manifests/deploy/kubernetes/deployment.yaml")[0];
    assert_eq!((d["kind"].as_str(), d["spec"]["replicas"].as_i64()), (Some("Deployment"), Some(2)));
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
    let pdb = &yaml_docs("manifests/deploy/kubernetes/pdb.yaml")[0];
    assert_eq!((pdb["kind"].as_str(), pdb["spec"]["minAvailable"].as_i64()), (Some("PodDisruptionBudget"), Some(1)));
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["serviceAccountName"], "lambda-reconciler");
    let containers = pod["containers"].as_array().unwrap();
    let controller = containers.iter().find(|c| c["name"] == "controller").unwrap();
    let sync = containers.iter().find(|c| c["name"] == "git-sync").unwrap();
    assert_eq!(controller["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(controller["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(controller["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(controller["resources"]["limits"]["memory"].is_string());
    let args = strings(&controller["args"]);
    assert_eq!(args[0], "run");
    assert_real_flags(&args, "deployment controller args");
    assert!(args.iter().any(|a| a == "--lease-table=lambda-reconciler-lease"), "two replicas need the lease");
    assert!(pod["terminationGracePeriodSeconds"].as_i64().unwrap() > 30, "longer than --shutdown-timeout");
    let manifests = args.iter().find_map(|a| a.strip_prefix("--manifests=")).unwrap();
    let link = strings(&sync["args"]).iter().find_map(|a| a.strip_prefix("--link=").map(str::to_string)).unwrap();
    assert!(manifests.starts_with(&format!("/git/{link}")), "the controller reads git-sync's link");
    assert!(help("run").contains("LAMBDA_RECONCILER_ALERT_WEBHOOK"));
    let sa = &yaml_docs("manifests/deploy/kubernetes/serviceaccount.yaml")[0];
    assert!(sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].as_str().unwrap().starts_with("arn:aws:iam::"));
    let svc = &yaml_docs("manifests/deploy/kubernetes/service.yaml")[0];
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "http");
    let kustomization = &yaml_docs("manifests/deploy/kubernetes/kustomization.yaml")[0];
    for r in strings(&kustomization["resources"]) {
        assert!(root().join("manifests/deploy/kubernetes").join(r).exists());
    }
}

#[test]
fn the_ecs_task_definition_runs_the_controller_and_git_sync_with_awslogs_and_a_health_check() {
    let t = json("manifests/deploy/ecs/task-definition.json");
    assert_eq!(t["requiresCompatibilities"][0], "FARGATE");
    let defs = t["containerDefinitions"].as_array().unwrap();
    let controller = defs.iter().find(|c| c["name"] == "controller").unwrap();
    assert!(defs.iter().any(|c| c["name"] == "git-sync"));
    for c in defs {
        assert_eq!(c["logConfiguration"]["logDriver"], "awslogs");
    }
    let cmd = strings(&controller["command"]);
    assert_real_flags(&cmd, "ECS controller command");
    let health = strings(&controller["healthCheck"]["command"]);
    assert_eq!(health[0], "CMD");
    assert_real_flags(&health[2..], "ECS health check");
    assert!(cmd.iter().any(|a| a == "--lease-table=lambda-reconciler-lease"));
    let service = json("manifests/deploy/ecs/service.json");
    assert_eq!((service["desiredCount"].as_i64(), service["taskDefinition"].as_str()), (Some(2), t["family"].as_str()));
    assert_eq!(service["deploymentConfiguration"]["minimumHealthyPercent"], 100);
}

#[test]
fn the_lease_table_template_matches_the_policy_and_the_item_the_controller_writes() {
    let t = &yaml_docs("manifests/deploy/cloudformation/lease-table.yaml")[0];
    let table = &t["Resources"]["LeaseTable"]["Properties"];
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(table["KeySchema"][0]["AttributeName"], "key");
    assert_eq!(table["TimeToLiveSpecification"]["AttributeName"], "expiresAt");
    let name = t["Parameters"]["TableName"]["Default"].as_str().unwrap();
    let policy = json("manifests/deploy/iam/policy.json");
    let lease = policy["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "LeaderLease").unwrap();
    assert!(lease["Resource"].as_str().unwrap().ends_with(&format!(":table/{name}")));
    let src = std::fs::read_to_string(root().join("src/aws/lease.rs")).unwrap();
    assert!(src.contains("\"expiresAt\"") && src.contains("\"key\""), "the TTL attribute and key the template names");
}

#[test]
fn the_ci_example_validates_and_plans_with_real_flags() {
    let w = &yaml_docs("manifests/deploy/ci/github-actions.yaml")[0];
    let mut seen = BTreeSet::new();
    for job in w["jobs"].as_object().unwrap().values() {
        for step in job["steps"].as_array().unwrap() {
            let Some(run) = step["run"].as_str() else { continue };
            let joined = run.replace("\\\n", " ");
            for line in joined.lines().filter(|l| l.contains("\"$IMAGE\"")) {
                let after = line.split("\"$IMAGE\"").nth(1).unwrap();
                let args: Vec<String> =
                    after.split_whitespace().take_while(|a| *a != ">").map(str::to_string).collect();
                assert_real_flags(&args, "CI example");
                seen.insert(args[0].clone());
            }
        }
    }
    assert_eq!(seen, BTreeSet::from(["apply".to_string(), "plan".into(), "validate".into()]));
    // A pull request can edit the workflow: only an environment's protection rules (and a trust
    // policy naming that environment) keep its branch from assuming the apply role.
    assert_eq!(w["jobs"]["apply"]["environment"].as_str(), Some("production"), "the apply job runs in an environment");
    assert!(std::fs::read_to_string(root().join("manifests/deploy/ci/github-actions.yaml"))
        .unwrap()
        .contains("--detailed-exitcode"));
}

/// `service:Operation` of every AWS call in the source (`call("lambda:GetFunction", …)`).
fn called_operations() -> BTreeSet<String> {
    let mut files = vec![];
    files_under(&root().join("src"), &mut files);
    let mut ops = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        for part in text.split('"').skip(1).step_by(2) {
            if let Some((svc, op)) = part.split_once(':') {
                let known =
                    ["lambda", "autoscaling", "ssm", "sns", "secretsmanager", "sqs", "sts", "dynamodb", "cloudwatch"]
                        .contains(&svc);
                if known
                    && !op.is_empty()
                    && op.chars().all(|c| c.is_ascii_alphanumeric())
                    && op.starts_with(char::is_uppercase)
                {
                    let svc = if svc == "autoscaling" { "application-autoscaling" } else { svc };
                    // STS API reference, GetCallerIdentity: "No permissions are required".
                    if op != "GetCallerIdentity" && !NOT_CALLED.contains(&part) {
                        ops.insert(format!("{svc}:{op}"));
                    }
                }
            }
        }
    }
    ops
}

/// Strings in src/ shaped like actions that are not calls: what a public function URL's
/// resource-policy statements grant everyone (`lambda:InvokeFunctionUrl`) and their condition
/// keys (AddPermission's `FunctionUrlAuthType` and `InvokedViaFunctionUrl`).
const NOT_CALLED: &[&str] = &["lambda:InvokeFunctionUrl", "lambda:FunctionUrlAuthType", "lambda:InvokedViaFunctionUrl"];

/// Actions the policy grants that the controller never calls itself: AWS checks them on the
/// caller of another call. Application Auto Scaling's target tracking creates and deletes its
/// alarms, and the service-linked role, as the caller; SSM decrypts SecureStrings with KMS; an
/// update that sets layers needs GetLayerVersion on each ("you must have this permission in your
/// user policy", adding-layers); UpdateFunctionCode from S3 reads the object with the caller's
/// permissions (s3:GetObject, s3:GetObjectVersion for a versioned object), an image of another
/// account with ecr:BatchGetImage and ecr:GetDownloadUrlForLayer; an update with a Role needs
/// iam:PassRole, one with a VpcConfig the ec2:Describe* reads, one with FileSystemConfigs
/// elasticfilesystem:DescribeMountTargets (Lambda API permissions reference).
const DEPENDENT: &[&str] = &[
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "cloudwatch:PutMetricAlarm",
    "cloudwatch:DeleteAlarms",
    "iam:CreateServiceLinkedRole",
    "lambda:GetLayerVersion",
    "s3:GetObject",
    "s3:GetObjectVersion",
    "iam:PassRole",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
    "elasticfilesystem:DescribeMountTargets",
];

fn policy_actions(rel: &str) -> BTreeSet<String> {
    let p = json(rel);
    assert_eq!(p["Version"], "2012-10-17");
    p["Statement"].as_array().unwrap().iter().flat_map(|s| strings(&s["Action"])).collect()
}

#[test]
fn the_iam_policy_lists_exactly_the_actions_the_controller_calls() {
    let called = called_operations();
    assert!(called.contains("lambda:PutProvisionedConcurrencyConfig") && called.contains("sns:Publish"), "{called:?}");
    let policy = policy_actions("manifests/deploy/iam/policy.json");
    let aws_api: BTreeSet<String> =
        policy.iter().filter(|a| !DEPENDENT.contains(&a.as_str()) && !a.starts_with("kms:")).cloned().collect();
    assert_eq!(aws_api, called, "policy.json vs the calls in src/");
    let readonly = policy_actions("manifests/deploy/iam/policy-readonly.json");
    let reads: BTreeSet<String> = called
        .iter()
        .filter(|a| ["Get", "List", "Describe", "BatchGet"].iter().any(|p| a.split(':').nth(1).unwrap().starts_with(p)))
        // The lease is for replicas that write; a read-only deployment runs one replica.
        .filter(|a| !a.starts_with("dynamodb:"))
        .cloned()
        .chain(["sns:Publish".to_string()])
        // Reading the events queue consumes its messages: no write to what the controller manages.
        .chain(["sqs:ReceiveMessage".to_string(), "sqs:DeleteMessage".to_string()])
        // Reading another account's functions needs its role.
        .chain(["sts:AssumeRole".to_string()])
        .collect();
    let readonly_api: BTreeSet<String> = readonly.iter().filter(|a| !a.starts_with("kms:")).cloned().collect();
    assert_eq!(readonly_api, reads, "policy-readonly.json: reads only (and alerts)");
    let p = json("manifests/deploy/iam/policy.json");
    for s in p["Statement"].as_array().unwrap() {
        // Scoped to functions: by resource ARN, or (event source mappings, whose resource is the
        // mapping) by the lambda:FunctionArn condition; AWS cannot scope ListEventSourceMappings.
        let actions = strings(&s["Action"]);
        let unscopable = actions.iter().all(|a| a == "lambda:ListEventSourceMappings")
            || (actions.iter().all(|a| a == "lambda:GetLayerVersion")
                && s["Resource"].as_str().unwrap().contains(":layer:"));
        if actions.iter().any(|a| a.starts_with("lambda:")) && !unscopable {
            let by_condition = s["Condition"]["ArnLike"]["lambda:FunctionArn"].is_array();
            assert!(
                by_condition || strings(&s["Resource"]).iter().all(|r| r.contains(":function:")),
                "lambda actions are scoped to functions: {s}"
            );
        }
    }
}

/// The KMS actions of a policy, each with the services it may be used through (`kms:ViaService`).
fn kms_grants(rel: &str) -> BTreeSet<(String, String)> {
    let p = json(rel);
    let mut out = BTreeSet::new();
    for s in p["Statement"].as_array().unwrap() {
        let actions = strings(&s["Action"]);
        if !actions.iter().any(|a| a.starts_with("kms:")) {
            continue;
        }
        // Never a KMS permission usable directly or through any service: scoped to the services
        // that use a key on the controller's behalf.
        let via = &s["Condition"]["StringLike"]["kms:ViaService"];
        assert!(via.is_string(), "{rel}: a KMS statement without kms:ViaService: {s}");
        assert!(actions.iter().all(|a| a.starts_with("kms:")), "{rel}: KMS actions on their own: {s}");
        for a in actions {
            out.insert((a, via.as_str().unwrap().to_string()));
        }
    }
    out
}

#[test]
fn kms_is_granted_only_through_lambda_secrets_manager_and_ssm_as_each_needs_it() {
    let pair = |a: &str, v: &str| (a.to_string(), v.to_string());
    // Lambda (Securing environment variables): "kms:CreateGrant, kms:Encrypt - To configure a
    // customer managed key on a function. kms:Decrypt - To view and manage environment
    // variables that are encrypted with a customer managed key." Secrets Manager
    // (BatchGetSecretValue) and SSM SecureStrings: kms:Decrypt for customer managed keys.
    let reads = [
        pair("kms:Decrypt", "lambda.*.amazonaws.com"),
        pair("kms:Decrypt", "secretsmanager.*.amazonaws.com"),
        pair("kms:Decrypt", "ssm.*.amazonaws.com"),
    ];
    let writes = [pair("kms:CreateGrant", "lambda.*.amazonaws.com"), pair("kms:Encrypt", "lambda.*.amazonaws.com")];
    let full: BTreeSet<_> = reads.iter().chain(&writes).cloned().collect();
    assert_eq!(kms_grants("manifests/deploy/iam/policy.json"), full);
    assert_eq!(kms_grants("manifests/deploy/iam/policy-readonly.json"), reads.into_iter().collect());
}

/// `pattern` (IAM's `*` wildcard) matches all of `text`.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            text.starts_with(head) && (0..=text.len() - head.len()).any(|i| glob(rest, &text[head.len() + i..]))
        }
    }
}

#[test]
fn the_events_queue_statements_cover_the_queues_of_other_accounts_the_central_controller_reads() {
    // README "Many accounts": a controller "reads a queue ... with its own credentials (the
    // template's ReaderPrincipalArn allows that across accounts)": its identity policy must
    // allow the other accounts' queues too (the queue policy alone is not enough).
    let t = &yaml_docs("manifests/deploy/cloudformation/events.yaml")[0];
    let name = t["Resources"]["EventsQueue"]["Properties"]["QueueName"]["Fn::Sub"].as_str().unwrap();
    let queue =
        |account: &str| format!("arn:aws:sqs:eu-west-1:{account}:{}", name.replace("${AWS::Region}", "eu-west-1"));
    for rel in ["manifests/deploy/iam/policy.json", "manifests/deploy/iam/policy-readonly.json"] {
        let p = json(rel);
        let s = p["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "ReadEventsQueues").unwrap();
        for account in ["123456789012", "444455556666"] {
            assert!(
                strings(&s["Resource"]).iter().any(|r| glob(r, &queue(account))),
                "{rel}: {} in {s}",
                queue(account)
            );
        }
    }
}

#[test]
fn the_dockerfile_is_multi_stage_non_root_and_uses_real_flags() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    assert_eq!(text.lines().filter(|l| l.starts_with("FROM ")).count(), 2);
    assert!(text.contains("gcr.io/distroless/cc") && text.contains("USER 65532:65532"));
    assert!(text.contains("EXPOSE 9090") && text.contains("HEALTHCHECK"));
    // Exec-form JSON after `key` on the first line starting with `prefix` (indentation counts).
    let exec_form = |prefix: &str, key: &str| -> Vec<String> {
        let line = text.lines().find(|l| l.starts_with(prefix)).unwrap();
        serde_json::from_str(line.trim_start().strip_prefix(key).unwrap().trim()).unwrap()
    };
    assert_eq!(exec_form("ENTRYPOINT", "ENTRYPOINT"), ["/usr/local/bin/lambda-reconciler"]);
    let cmd = exec_form("CMD [", "CMD");
    assert_real_flags(&cmd, "Dockerfile CMD");
    assert!(cmd.contains(&"/manifests".to_string()));
    let health = exec_form("    CMD [", "CMD");
    assert_eq!(health[0], "/usr/local/bin/lambda-reconciler");
    assert_real_flags(&health[1..], "HEALTHCHECK");
}

#[test]
fn hadolint_finds_nothing_in_the_dockerfile() {
    let hadolint = root().join(".venv/bin/hadolint");
    assert!(hadolint.exists(), "scripts/venv installs hadolint (tests/emulator/requirements.txt)");
    let out = Command::new(hadolint).arg("--no-color").arg(root().join("Dockerfile")).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// Every `lambda_reconciler_*` metric name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    text.match_indices("lambda_reconciler_")
        .map(|(i, _)| text[i..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect::<String>())
        .collect()
}

#[test]
fn the_two_alerting_rule_files_hold_the_same_rules_for_drift_errors_throttling_and_a_stopped_resync() {
    let plain = &yaml_docs("manifests/deploy/monitoring/prometheus-rules.yaml")[0];
    let operator = &yaml_docs("manifests/deploy/monitoring/prometheusrule.yaml")[0];
    assert_eq!(operator["kind"], "PrometheusRule");
    assert_eq!(plain["groups"], operator["spec"]["groups"]);
    let alerts: BTreeSet<String> = plain["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["alert"].as_str().unwrap().to_string())
        .collect();
    for a in ["DriftNotCorrected", "ManifestsInError", "Throttled", "StoppedResyncing", "Absent", "NoWriter"] {
        assert!(alerts.contains(&format!("LambdaReconciler{a}")), "{alerts:?}");
    }
}

#[tokio::test]
async fn every_metric_the_dashboard_and_the_rules_use_exists_in_a_running_daemons_metrics() {
    use crate::common::daemon::Daemon;
    use crate::common::{manifests, path, Emulator};
    let emu = Emulator::start();
    emu.seed_function("app-mon", 1);
    let doc = "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: app-mon\nspec:\n  reservedConcurrency: 1\n";
    let dir = manifests(&[("m.yaml", doc)]);
    // One throttled call, so the throttle series the rules and the dashboard select exists.
    emu.configure(r#"{"fail_next": {"count": 1, "status": 429, "code": "TooManyRequestsException"}}"#);
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "1h"]);
    daemon.wait_ready().await;
    let exposition = daemon.get("/metrics").1;
    let families: BTreeSet<&str> =
        exposition.lines().filter_map(|l| l.strip_prefix("# TYPE ")).filter_map(|l| l.split(' ').next()).collect();
    let exists = |name: &str| {
        families.iter().any(|f| {
            name == *f
                || name.strip_prefix(f).is_some_and(|rest| ["_total", "_bucket", "_sum", "_count"].contains(&rest))
        })
    };
    let mut used = BTreeSet::new();
    let dashboard = json("manifests/deploy/monitoring/grafana-dashboard.json");
    for panel in dashboard["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().unwrap() {
            used.extend(metric_names(t["expr"].as_str().unwrap()));
        }
    }
    used.extend(metric_names(&dashboard["templating"].to_string()));
    let rules = &yaml_docs("manifests/deploy/monitoring/prometheus-rules.yaml")[0];
    for r in rules["groups"][0]["rules"].as_array().unwrap() {
        used.extend(metric_names(r["expr"].as_str().unwrap()));
    }
    assert!(used.len() >= 12, "{used:?}");
    let missing: Vec<&String> = used.iter().filter(|n| !exists(n)).collect();
    assert!(missing.is_empty(), "used by the dashboard or the rules but not in /metrics: {missing:?}");
    let mut exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter().map(|t| t["expr"].as_str().unwrap().to_string()))
        .collect();
    exprs.extend(
        rules["groups"][0]["rules"].as_array().unwrap().iter().map(|r| r["expr"].as_str().unwrap().to_string()),
    );
    let wrong = wrong_labels(&exprs, &exposition);
    assert!(wrong.is_empty(), "labels or label values the daemon never exposes: {wrong:?}");
}

/// The label names of every sample of `family` in `exposition`, with the values seen.
fn labels_of(exposition: &str, family: &str) -> BTreeSet<(String, String)> {
    exposition
        .lines()
        .filter(|l| {
            ["", "_total", "_bucket", "_count", "_sum"].iter().any(|s| l.starts_with(&format!("{family}{s}{{")))
        })
        .filter_map(|l| {
            l.split_once('{').and_then(|(_, rest)| rest.split_once('}')).map(|(labels, _)| labels.to_string())
        })
        .flat_map(|labels| {
            labels
                .split("\",")
                .filter_map(|kv| {
                    kv.split_once("=\"").map(|(k, v)| (k.to_string(), v.trim_end_matches('"').to_string()))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Each label matcher (`family{label="value"}`) and each `by (label)` in `exprs` that names a
/// label the family does not carry, or an exact value the running daemon does not give it.
/// Names are checked against the daemon's samples or, for a family with no sample yet, the
/// label structs of src/metrics.rs; values against the samples.
fn wrong_labels(exprs: &[String], exposition: &str) -> Vec<String> {
    let src = std::fs::read_to_string(root().join("src/metrics.rs")).unwrap();
    let target = ["instance", "job", "le"];
    let mut wrong = vec![];
    for expr in exprs {
        let families: Vec<String> = metric_names(expr).into_iter().collect();
        let known = |f: &str| -> BTreeSet<(String, String)> {
            let base = ["_total", "_bucket"].iter().find_map(|s| f.strip_suffix(s)).unwrap_or(f);
            labels_of(exposition, base)
        };
        let has_label = |f: &str, k: &str| {
            let seen = known(f);
            target.contains(&k)
                || if seen.is_empty() { src.contains(&format!("pub {k}:")) } else { seen.iter().any(|(n, _)| n == k) }
        };
        for (i, _) in expr.match_indices("lambda_reconciler_") {
            let name: String = expr[i..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
            let Some(body) = expr[i + name.len()..].strip_prefix('{').and_then(|r| r.split_once('}')).map(|(b, _)| b)
            else {
                continue;
            };
            for m in body.split(',').map(str::trim).filter(|m| !m.is_empty()) {
                let (k, v, exact) = match m.split_once("=~").or_else(|| m.split_once("!~")) {
                    Some((k, v)) => (k, v, false),
                    None => match m.split_once("!=").or_else(|| m.split_once('=')) {
                        Some((k, v)) => (k, v, !m.contains("!=")),
                        None => (m, "", false),
                    },
                };
                let v = v.trim_matches('"');
                if !has_label(&name, k) {
                    wrong.push(format!("{name}{{{k}}} in {expr}"));
                } else if exact && !target.contains(&k) && !known(&name).contains(&(k.to_string(), v.to_string())) {
                    wrong.push(format!("{name}{{{k}=\"{v}\"}} in {expr}"));
                }
            }
        }
        for (i, _) in expr.match_indices("by (") {
            let list = expr[i + 4..].split(')').next().unwrap_or("");
            for k in list.split(',').map(str::trim) {
                if !families.iter().any(|f| has_label(f, k)) {
                    wrong.push(format!("by ({k}) in {expr}"));
                }
            }
        }
    }
    wrong
}
