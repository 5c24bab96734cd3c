"""lambda-reconciler benchmark: API calls per resync, resync time against the rate-limit floor,
file-to-write latency, memory, startup, and validate/plan time over N manifests.

Run through scripts/bench (which builds the release binary and the emulator venv first):
    scripts/bench [--functions 1000] [--out bench/results.json] [--binary target/release/lambda-reconciler]
Every figure is measured against the project's emulator (moto + extension) on this machine.
"""

import argparse
import concurrent.futures
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "emulator"))
import seed  # noqa: E402

REGION = "ap-northeast-1"
EDITS = 50
IDLE = 1.5  # seconds between idle edits: the limiter's bucket (10 permits at 10 rps) refills
LOADED_EDITS = 20
LOAD_WARMUP = 10
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Lambda REST (method, path regex) -> operation, for reading the emulator's request log.
LAMBDA_OPS = [
    ("GET", r"^/2015-03-31/functions/[^/]+/?$", "GetFunction"),
    ("GET", r"^/2015-03-31/functions/[^/]+/configuration/?$", "GetFunctionConfiguration"),
    ("GET", r"^/2015-03-31/functions/[^/]+/aliases/?$", "ListAliases"),
    ("GET", r"^/2015-03-31/functions/[^/]+/aliases/[^/]+/?$", "GetAlias"),
    ("GET", r"^/2019-09-30/functions/[^/]+/provisioned-concurrency/?$", "ListProvisionedConcurrencyConfigs"),
    ("GET", r"^/2019-09-25/functions/[^/]+/event-invoke-config/list/?$", "ListFunctionEventInvokeConfigs"),
    ("GET", r"^/2019-09-25/functions/[^/]+/event-invoke-config/?$", "GetFunctionEventInvokeConfig"),
    ("PUT", r"^/2015-03-31/functions/[^/]+/configuration/?$", "UpdateFunctionConfiguration"),
    ("POST", r"^/2017-03-31/tags/.+$", "TagResource"),
    ("GET", r"^/2015-03-31/functions/[^/]+/policy/?$", "GetPolicy"),
    ("GET", r"^/2015-03-31/event-source-mappings/?$", "ListEventSourceMappings"),
]


def op_of(r):
    """`service:Operation` of one logged request."""
    if r["target"]:
        return f"{r['service']}:{r['target'].rsplit('.', 1)[-1]}"
    for method, rx, op in LAMBDA_OPS:
        if r["method"] == method and re.match(rx, r["path"]):
            return f"lambda:{op}"
    return f"{r['service']}:{r['method']} {r['path']}"


def is_read(op):
    name = op.split(":", 1)[1]
    return name.startswith(("Get", "List", "Describe", "BatchGet"))


def http(url, method="GET", body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return None, b""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulator:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "emulator", "server.py"), "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def requests(self):
        return json.loads(http(self.url + "/_ext/requests")[1])

    def clear(self):
        http(self.url + "/_ext/requests", "DELETE")

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def seed_all(em, n):
    """N functions with versions 1 and 2, two SQS queues, one shared String parameter and one
    SecureString per function."""
    seed.role_arn(em.url, REGION)
    sqs = seed.client("sqs", em.url, REGION)
    for q in ("bench-success", "bench-failure"):
        sqs.create_queue(QueueName=q)
    ssm = seed.client("ssm", em.url, REGION)
    ssm.put_parameter(Name="/bench/shared/db_host", Type="String", Value="db.bench.internal", Overwrite=True)
    sm = seed.client("secretsmanager", em.url, REGION)
    for k in range(SECRETS):
        sm.create_secret(Name=f"bench/api-key-{k:02d}", SecretString=f'{{"key": "bench-api-key-{k:02d}"}}')
    LAYER.append(seed.layer(em.url, REGION, "bench-deps"))

    def one(i):
        seed.function(em.url, REGION, name(i), 2)
        seed.queue(em.url, REGION, f"bench-q-{i:04d}")
        ssm_local = seed.client("ssm", em.url, REGION)
        ssm_local.put_parameter(Name=f"/bench/{name(i)}/db_password", Type="SecureString",
                                Value=f"bench-secret-{i:04d}", Overwrite=True)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(n)))


def name(i):
    return f"bench-fn-{i:04d}"


SECRETS = 40  # shared Secrets Manager secrets: function i uses bench/api-key-(i mod 40)
LAYER = []  # the shared layer version's ARN (seeded)


def manifest(i, log_level="DEBUG"):
    return f"""apiVersion: lambda-reconciler.io/v1alpha1
kind: FunctionConfig
metadata:
  name: {name(i)}
spec:
  functionName: {name(i)}
  region: {REGION}
  driftPolicy: correct
  memorySize: 512
  timeout: 30
  tracing: Active
  description: bench function {i}
  layers: ["{LAYER[0] if LAYER else ''}"]
  loggingConfig: {{format: JSON, applicationLogLevel: INFO}}
  environment:
    variables:
      LOG_LEVEL: {log_level}
      SERVICE: bench
      INDEX: "{i}"
      DB_HOST: {{fromSsm: /bench/shared/db_host}}
      DB_PASSWORD: {{fromSsm: /bench/{name(i)}/db_password}}
      API_KEY: {{fromSecret: {{id: bench/api-key-{i % SECRETS:02d}, key: key}}}}
  permissions:
    apigw:
      qualifier: prod
      principal: apigateway.amazonaws.com
      sourceArn: arn:aws:execute-api:{REGION}:123456789012:bench{i:04d}/*/GET/items
  eventSourceMappings:
    - source: arn:aws:sqs:{REGION}:123456789012:bench-q-{i:04d}
      qualifier: live
      batchSize: 10
      functionResponseTypes: [ReportBatchItemFailures]
  eventInvokeConfig:
    maximumRetryAttempts: 1
    maximumEventAgeInSeconds: 3600
    destinations:
      onSuccess: arn:aws:sqs:{REGION}:123456789012:bench-success
      onFailure: arn:aws:sqs:{REGION}:123456789012:bench-failure
  aliases:
    prod:
      functionVersion: "1"
      routing: {{"2": 0.1}}
    live:
      functionVersion: "2"
      provisionedConcurrency: 2
      autoscaling:
        minCapacity: 2
        maxCapacity: 4
        targetUtilization: 0.7
        scheduledActions:
          - name: business-hours
            schedule: cron(0 9 * * ? *)
            minCapacity: 3
            maxCapacity: 4
"""


def write_manifest(path, i, log_level="DEBUG"):
    with open(path, "w") as f:
        f.write(manifest(i, log_level))


class Binary:
    def __init__(self, path, endpoint):
        self.path = path
        self.env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDEMULATOR", AWS_SECRET_ACCESS_KEY="emulator-secret",
                        AWS_REGION=REGION, AWS_ENDPOINT_URL=endpoint, AWS_EC2_METADATA_DISABLED="true")
        self.env.pop("AWS_PROFILE", None)

    def timed(self, *args):
        """(exit code, seconds, stdout) of one command."""
        t = time.monotonic()
        p = subprocess.run([self.path, *args], env=self.env, capture_output=True, text=True)
        return p.returncode, time.monotonic() - t, p.stdout, p.stderr

    def spawn(self, *args):
        return subprocess.Popen([self.path, *args], env=self.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)


def proc_usage(pid):
    """(peak RSS MB, CPU seconds) of a running process."""
    with open(f"/proc/{pid}/status") as f:
        hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return hwm / 1024, cpu


def metrics_calls(listen):
    """The controller's own counters: service:Operation -> calls (every outcome)."""
    text = http(f"http://{listen}/metrics")[1].decode()
    out = Counter()
    for m in re.finditer(r'^lambda_reconciler_aws_api_calls_total\{([^}]*)\} (\d+)', text, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        out[f"{labels['service']}:{labels['operation']}"] += int(m.group(2))
    return out


def emulator_calls(requests):
    out = Counter()
    for r in requests:
        service = {"application-autoscaling": "autoscaling"}.get(r["service"], r["service"])
        out[op_of(dict(r, service=service))] += 1
    return out


def resync(binary, em, d, rps, n):
    """Starts the daemon on in-sync functions and measures its first full pass (every function
    reconciled once: a full resync). Returns (figures, running process, listen address)."""
    listen = f"127.0.0.1:{free_port()}"
    em.clear()
    t0 = time.monotonic()
    p = binary.spawn("run", "-m", d, "--listen", listen, "--resync-interval", "1h", "--aws-rps", str(rps))
    first_ok = None
    while True:
        status, _ = http(f"http://{listen}/readyz")
        if status == 200:
            break
        if first_ok is None and status is not None:
            first_ok = time.monotonic() - t0
        if p.poll() is not None:
            raise SystemExit(f"daemon exited with {p.returncode}")
        # Every 50 ms: each poll is an HTTP request the daemon answers, counted in its CPU (at 10 ms
        # the polls of a 10 s pass cost about a tenth of it). A 10 rps pass takes minutes: poll less.
        time.sleep(0.05 if rps == 0 else 0.1)
    ready = time.monotonic() - t0
    rss, cpu = proc_usage(p.pid)
    reqs = em.requests()
    ours = metrics_calls(listen)
    theirs = emulator_calls(reqs)
    if reqs:
        span = max(r["t"] for r in reqs) - min(r["t"] for r in reqs)
    else:
        span = 0.0
    total = sum(theirs.values())
    writes = sum(v for k, v in theirs.items() if not is_read(k))
    return {
        "rps": rps,
        "startup_to_ready_s": ready,
        "first_call_to_last_call_s": span,
        "calls": dict(sorted(theirs.items())),
        "controller_counters": dict(sorted(ours.items())),
        "counters_match_emulator_log": ours == theirs,
        "total_calls": total,
        "writes": writes,
        "peak_rss_mb": rss,
        "cpu_seconds": cpu,
        "admin_up_s": first_ok,
    }, p, listen


LEVELS = {}


def edits(em, d, indices, idle):
    """Edits the manifests of `indices` one at a time (LOG_LEVEL flipped) and measures
    file saved -> first write call received by the emulator. Each edit waits for the previous
    reconcile to finish (its TagResource) plus `idle` seconds."""
    latencies = []
    for i in indices:
        time.sleep(idle)
        fn = name(i)
        em.clear()
        LEVELS[i] = "INFO" if LEVELS.get(i, "DEBUG") == "DEBUG" else "DEBUG"
        write_manifest(os.path.join(d, f"{fn}.yaml"), i, LEVELS[i])
        saved = time.time()
        first = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            reqs = [r for r in em.requests() if fn in r["path"]]
            writes = [r for r in reqs if r["method"] != "GET"]
            if writes and first is None:
                first = min(r["t"] for r in writes)
            if any(r["method"] == "POST" and "/tags/" in r["path"] for r in reqs):
                break
            time.sleep(0.005)
        if first is None:
            raise SystemExit(f"edit of {fn}: no write within 120 s")
        latencies.append((first - saved) * 1000)
    latencies.sort()
    return {
        "edits": len(latencies),
        "p50_ms": statistics.median(latencies),
        "p95_ms": latencies[int(round(0.95 * (len(latencies) - 1)))],
        "max_ms": latencies[-1],
    }


def edits_under_load(binary, em, d, n):
    """Edits made while a full resync at 10 rps keeps the rate limiter busy (a fresh daemon's
    first pass): the edited function is reconciled ahead of the resync queue."""
    listen = f"127.0.0.1:{free_port()}"
    p = binary.spawn("run", "-m", d, "--listen", listen, "--resync-interval", "1h", "--aws-rps", "10")
    while http(f"http://{listen}/healthz")[0] != 200:
        time.sleep(0.01)
    time.sleep(LOAD_WARMUP)
    indices = [n - 1 - k for k in range(min(LOADED_EDITS, n))]
    out = edits(em, d, indices, 0.5)
    busy = http(f"http://{listen}/readyz")[0] != 200
    stop(p)
    out["resync_still_running"] = busy
    return out


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(60)
    except subprocess.TimeoutExpired:
        p.kill()


def per_function(calls, n, service):
    return {k.split(":", 1)[1]: round(v / n, 3) for k, v in calls.items() if k.startswith(service + ":") and is_read(k)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--functions", type=int, default=1000)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "lambda-reconciler"))
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results.json"))
    ap.add_argument("--skip-limited", action="store_true", help="skip the 10 rps resync (it takes minutes)")
    ap.add_argument("--only-edits-under-resync", action="store_true",
                    help="seed, apply, then only the edits under a 10 rps resync; updates those keys of --out "
                         "(the previous figures go under `before` unless it holds them already)")
    a = ap.parse_args()
    if a.only_edits_under_resync:
        return edits_only(a)
    n = a.functions
    em = Emulator()
    work = tempfile.mkdtemp(prefix="lr-bench-")
    d = os.path.join(work, "manifests")
    os.makedirs(d)
    results = {"functions": n}
    try:
        t = time.monotonic()
        seed_all(em, n)
        print(f"seeded {n} functions in {time.monotonic() - t:.1f} s", file=sys.stderr)
        for i in range(n):
            write_manifest(os.path.join(d, f"{name(i)}.yaml"), i)
        # Provisioned concurrency READY after 50 ms (default 300 ms): only shortens the initial apply.
        http(em.url + "/_ext/config", "POST", {"pc_ready_delay": 0.05})
        b = Binary(a.binary, em.url)
        code, secs, _, err = b.timed("validate", "-m", d)
        assert code == 0, err
        results["validate_seconds"] = secs
        em.clear()
        code, secs, _, err = b.timed("apply", "-m", d, "--aws-rps", "0")
        assert code == 0, err[-2000:]
        results["apply_from_scratch_seconds_unlimited"] = secs
        results["apply_from_scratch_calls"] = len(em.requests())
        em.clear()
        code, secs, out, err = b.timed("plan", "-m", d, "--aws-rps", "0", "--detailed-exitcode")
        assert code == 0, out[-2000:] + err[-2000:]
        results["plan_seconds_unlimited"] = secs
        results["plan_calls"] = len(em.requests())
        print(f"validate {results['validate_seconds']:.2f} s, apply {results['apply_from_scratch_seconds_unlimited']:.1f} s, "
              f"plan {secs:.1f} s", file=sys.stderr)

        unlimited, p, _ = resync(b, em, d, 0, n)
        stop(p)
        print(f"unlimited resync: {unlimited['startup_to_ready_s']:.1f} s", file=sys.stderr)
        results["resync_unlimited"] = unlimited
        if not a.skip_limited:
            limited, p, listen = resync(b, em, d, 10, n)
            print(f"10 rps resync: {limited['startup_to_ready_s']:.1f} s", file=sys.stderr)
            results["resync_10rps"] = limited
            results["file_to_write"] = edits(em, d, [k % n for k in range(EDITS)], IDLE)
            stop(p)
            results["file_to_write_under_resync"] = edits_under_load(b, em, d, n)
        base = results.get("resync_10rps", unlimited)
        calls = base["calls"]
        results.update({
            "lambda_reads_per_in_sync_function": round(sum(v for k, v in calls.items() if k.startswith("lambda:") and is_read(k)) / n, 3),
            "lambda_reads_by_api_per_function": per_function(calls, n, "lambda"),
            "autoscaling_reads_per_resync": sum(v for k, v in calls.items() if k.startswith("autoscaling:")),
            "autoscaling_reads_by_api": {k.split(":", 1)[1]: v for k, v in calls.items() if k.startswith("autoscaling:")},
            "autoscaling_targets": n,
            "ssm_reads_per_resync": sum(v for k, v in calls.items() if k.startswith("ssm:")),
            "secrets_reads_per_resync": sum(v for k, v in calls.items() if k.startswith("secretsmanager:")),
            "secrets_per_batch_read": round(min(n, SECRETS) / max(1, calls.get("secretsmanager:BatchGetSecretValue", 1)), 2),
            "mapping_lists_per_function": round(calls.get("lambda:ListEventSourceMappings", 0) / n, 3),
            "policy_reads_per_function": round(calls.get("lambda:GetPolicy", 0) / n, 3),
            "steady_state_writes": unlimited["writes"] + results.get("resync_10rps", {}).get("writes", 0),
            "calls_per_resync": base["total_calls"],
            "resync_seconds_unlimited": unlimited["startup_to_ready_s"],
            "startup_to_ready_ms": round(unlimited["startup_to_ready_s"] * 1000),
            "peak_rss_mb": round(max(unlimited["peak_rss_mb"], results.get("resync_10rps", {}).get("peak_rss_mb", 0)), 1),
            "cpu_seconds_per_resync": round(unlimited["cpu_seconds"], 2),
            "cpu_ms_per_call": round(1000 * unlimited["cpu_seconds"] / max(1, unlimited["total_calls"]), 3),
            "counters_match_emulator_log": all(r["counters_match_emulator_log"] for r in (unlimited, results.get("resync_10rps", unlimited))),
        })
        if "resync_10rps" in results:
            lim = results["resync_10rps"]
            results.update({
                "resync_seconds_at_10rps": round(lim["startup_to_ready_s"], 2),
                "resync_floor_seconds_at_10rps": lim["total_calls"] / 10,
                "resync_ratio_to_floor": round(lim["startup_to_ready_s"] / (lim["total_calls"] / 10), 3),
                "file_to_write_p50_ms": round(results["file_to_write"]["p50_ms"], 1),
                "file_to_write_p95_ms": round(results["file_to_write"]["p95_ms"], 1),
                "file_to_write_under_resync_p50_ms": round(results["file_to_write_under_resync"]["p50_ms"], 1),
                "file_to_write_under_resync_p95_ms": round(results["file_to_write_under_resync"]["p95_ms"], 1),
            })
    finally:
        em.stop()
    results["machine"] = {"cpus": os.cpu_count(), "emulator": "moto 5.2.5 + tests/emulator extension"}
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    if os.path.exists(a.out):
        # The figures of an earlier run kept for comparison (key `before`) stay in the file.
        with open(a.out) as f:
            before = json.load(f).get("before")
        if before is not None:
            results["before"] = before
    with open(a.out, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write("\n")
    table(results)


UNDER_RESYNC = ("file_to_write_under_resync", "file_to_write_under_resync_p50_ms", "file_to_write_under_resync_p95_ms")


def edits_only(a):
    """Seeds and applies N functions, then measures only the edits under a 10 rps resync."""
    n = a.functions
    em = Emulator()
    work = tempfile.mkdtemp(prefix="lr-bench-")
    d = os.path.join(work, "manifests")
    os.makedirs(d)
    try:
        t = time.monotonic()
        seed_all(em, n)
        for i in range(n):
            write_manifest(os.path.join(d, f"{name(i)}.yaml"), i)
        http(em.url + "/_ext/config", "POST", {"pc_ready_delay": 0.05})
        b = Binary(a.binary, em.url)
        code, _, _, err = b.timed("apply", "-m", d, "--aws-rps", "0")
        assert code == 0, err[-2000:]
        print(f"seeded and applied {n} functions in {time.monotonic() - t:.1f} s", file=sys.stderr)
        loaded = edits_under_load(b, em, d, n)
    finally:
        em.stop()
    results = {}
    if os.path.exists(a.out):
        with open(a.out) as f:
            results = json.load(f)
    if results.get("functions") == n:
        before = results.setdefault("before", {})
        for k in UNDER_RESYNC:
            if k in results and k not in before:
                before[k] = results[k]
    results.update({
        "functions": n,
        "file_to_write_under_resync": loaded,
        "file_to_write_under_resync_p50_ms": round(loaded["p50_ms"], 1),
        "file_to_write_under_resync_p95_ms": round(loaded["p95_ms"], 1),
    })
    with open(a.out, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write("\n")
    print(json.dumps({"now": loaded, "before": results.get("before", {}).get("file_to_write_under_resync")}, indent=2))


def table(r):
    rows = [(k, r[k]) for k in (
        "functions", "lambda_reads_per_in_sync_function", "lambda_reads_by_api_per_function", "autoscaling_reads_per_resync",
        "autoscaling_reads_by_api", "ssm_reads_per_resync", "secrets_reads_per_resync", "secrets_per_batch_read",
        "mapping_lists_per_function", "policy_reads_per_function", "calls_per_resync", "steady_state_writes",
        "counters_match_emulator_log", "resync_seconds_at_10rps", "resync_floor_seconds_at_10rps", "resync_ratio_to_floor",
        "resync_seconds_unlimited", "file_to_write_p50_ms", "file_to_write_p95_ms",
        "file_to_write_under_resync_p50_ms", "file_to_write_under_resync_p95_ms", "peak_rss_mb", "cpu_seconds_per_resync", "cpu_ms_per_call",
        "startup_to_ready_ms", "validate_seconds", "plan_seconds_unlimited", "plan_calls",
        "apply_from_scratch_seconds_unlimited") if k in r]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        v = f"{v:.2f}" if isinstance(v, float) else json.dumps(v) if isinstance(v, dict) else v
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
