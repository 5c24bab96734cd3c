"""Event-driven drift and many accounts (issue 15), against the emulator on this machine:

1. latency: an out-of-band change to its Drift alert, with CloudTrail events (delivery delay 0 s
   and 5 s) and with polling at 60 s; the controller's own part (event in EventBridge -> alert)
   reported separately;
2. steady-state AWS calls per function-hour, events with a 1 h safety net against 60 s polling
   (from the measured calls of one full pass and the measured queue reads while idle);
3. fleet: N functions across 4 account-regions (2 accounts x 2 regions): full resync time against
   the floor (calls / rps of the busiest account-region, all in parallel), peak RSS, and a
   manifest edit under the running resync to its first write.

Run through scripts/bench-events (builds the release binary first):
    scripts/bench-events [--fleet 10000] [--rps 25] [--trials 20] [--out bench/events-results.json]
"""

import argparse
import concurrent.futures
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
from bench import ROOT, Emulator, http as call  # noqa: E402

seed = bench.seed
REGIONS = ["ap-northeast-1", "us-west-2"]
OTHER = "222222222222"
ROLE = f"arn:aws:iam::{OTHER}:role/lambda-reconciler-target"
ENV = {"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "x", "NO_PROXY": "127.0.0.1,localhost",
       "RUST_LOG": "warn,lambda_reconciler=info"}
ADMIN = dict(aws_access_key_id="AKIDADMIN", aws_secret_access_key="x")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else None


class Hook:
    """A webhook receiver recording each alert with its arrival time."""

    def __init__(self):
        alerts = self.alerts = []

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                alerts.append((time.time(), json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def manifest(name, region, body, role=None):
    role_line = f"  roleArn: {role}\n" if role else ""
    return (f"apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\n"
            f"spec:\n  region: {region}\n{role_line}{body}")


def daemon(binary, em, mdir, extra):
    args = [binary, "--endpoint-url", em.url, "--region", REGIONS[0], "--log-format", "json", "run", "-m", mdir,
            "--listen", "127.0.0.1:0", "--debounce", "50ms"] + extra
    p = subprocess.Popen(args, env={**os.environ, **ENV}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    port = None
    for line in p.stderr:
        if "lambda-reconciler running" in line:
            port = int(json.loads(line)["listen"].rsplit(":", 1)[1])
            break
    threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
    return p, port


def wait(cond, deadline, what):
    start = time.time()
    while not cond():
        if time.time() - start > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)


def ready(port):
    return call(f"http://127.0.0.1:{port}/readyz")[0] == 200


def latency(binary, mode, trials, delay):
    """Out-of-band PutFunctionConcurrency -> Drift alert, `trials` functions changed 0.5 s apart."""
    em = Emulator()
    try:
        call(em.url + "/_ext/config", "POST", {"cloudtrail_delay_s": delay})
        names = [f"lat-{i:03d}" for i in range(trials)]
        seed.role_arn(em.url, REGIONS[0])
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda n: seed.function(em.url, REGIONS[0], n, 1), names))
        hook = Hook()
        with tempfile.TemporaryDirectory() as mdir:
            for n in names:
                with open(os.path.join(mdir, f"{n}.yaml"), "w") as f:
                    f.write(manifest(n, REGIONS[0], "  driftPolicy: alert\n  reservedConcurrency: 2\n"))
            extra = ["--alert-webhook", hook.url]
            if mode == "events":
                url = json.loads(call(em.url + "/_ext/seed/events", "POST",
                                      {"region": REGIONS[0], "name": "lambda-reconciler-events-bench"})[1])["QueueUrl"]
                extra += ["--events-queue-url", url, "--resync-interval", "1h"]
            else:
                extra += ["--resync-interval", "60s"]
            p, port = daemon(binary, em, mdir, extra)
            try:
                wait(lambda: ready(port), 120, "ready")
                time.sleep(2)  # the first pass's own events drain
                lam = seed.boto3.client("lambda", endpoint_url=em.url, region_name=REGIONS[0], **ADMIN)
                changed = {}
                for n in names:
                    lam.put_function_concurrency(FunctionName=n, ReservedConcurrentExecutions=7)
                    changed[n] = time.time()
                    # Polling: changes spread evenly over one resync interval, as real ones fall
                    # at any time of it (changes made together right after a pass would all wait
                    # for the same next pass).
                    time.sleep(60 / len(names) if mode == "polling" else 0.5)
                drift = lambda: {a["function"]: t for t, a in hook.alerts if a.get("kind") == "Drift"}  # noqa: E731
                wait(lambda: len(drift()) == len(names), 200 if mode == "polling" else 60, "every drift alert")
                seen = drift()
                total = [seen[n] - changed[n] for n in names]
                out = {"trials": len(names), "p50_s": round(pct(total, 50), 3), "p95_s": round(pct(total, 95), 3)}
                if mode == "events":
                    delivered = {}
                    for e in json.loads(call(em.url + "/_ext/cloudtrail")[1]):
                        if e["caller"].endswith(":user/admin") and e["function"] in changed:
                            delivered[e["function"]] = e["t"]
                    own = [seen[n] - delivered[n] for n in names]
                    out.update({"controller_p50_ms": round(pct(own, 50) * 1000, 1),
                                "controller_p95_ms": round(pct(own, 95) * 1000, 1)})
                return out
            finally:
                p.terminate()
                p.wait()
    finally:
        em.stop()


def idle_queue_reads(binary, seconds):
    """SQS ReceiveMessage calls of one idle consumer over `seconds`."""
    em = Emulator()
    try:
        url = json.loads(call(em.url + "/_ext/seed/events", "POST",
                              {"region": REGIONS[0], "name": "lambda-reconciler-events-idle"})[1])["QueueUrl"]
        with tempfile.TemporaryDirectory() as mdir:
            p, port = daemon(binary, em, mdir, ["--events-queue-url", url, "--resync-interval", "1h"])
            try:
                time.sleep(3)
                em.clear()
                time.sleep(seconds)
                reqs = em.requests()
                return sum(1 for r in reqs if r["target"].endswith("ReceiveMessage"))
            finally:
                p.terminate()
                p.wait()
    finally:
        em.stop()


def fleet(binary, n, rps, edits):
    """N functions over 4 account-regions: seed, apply (unlimited), then a daemon's full pass."""
    em = Emulator()
    try:
        call(em.url + "/_ext/seed/role", "POST", {"account": OTHER, "name": "lambda-reconciler-target"})
        # Setup only: seeding publishes right after each create (no Pending window to wait out).
        call(em.url + "/_ext/config", "POST", {"create_pending_seconds": 0})
        scopes = [(None, r) for r in REGIONS] + [(ROLE, r) for r in REGIONS]
        plan = [(i, scopes[i % 4]) for i in range(n)]
        t0 = time.time()
        creds = {}
        for role, region in scopes:
            if role:
                creds[region] = seed.assumed(em.url, region, role)
            seed.role_arn(em.url, region, creds.get(region) if role else None)

        def one(item):
            i, (role, region) = item
            c = creds[region] if role else None
            lam = seed.client("lambda", em.url, region, c)
            lam.create_function(FunctionName=f"fleet-{i:05d}", Runtime="python3.12", Handler="h.handler",
                                Role=f"arn:aws:iam::{OTHER if role else '123456789012'}:role/{seed.ROLE}",
                                Code={"ZipFile": seed.code(1)})
            lam.publish_version(FunctionName=f"fleet-{i:05d}")

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(one, plan))
        seeded = time.time() - t0
        body = lambda i: ("  reservedConcurrency: 2\n  environment:\n    variables:\n      SERVICE: fleet\n"  # noqa: E731
                          f"      INDEX: \"{i}\"\n  aliases:\n    live:\n      functionVersion: \"1\"\n")
        with tempfile.TemporaryDirectory() as mdir:
            for i, (role, region) in plan:
                with open(os.path.join(mdir, f"fleet-{i:05d}.yaml"), "w") as f:
                    f.write(manifest(f"fleet-{i:05d}", region, body(i), role))
            # Setup only (the pass below is what is measured): no InProgress window after updates.
            call(em.url + "/_ext/config", "POST", {"update_in_progress_seconds": 0})
            t1 = time.time()
            r = subprocess.run([binary, "--endpoint-url", em.url, "--region", REGIONS[0], "--aws-rps", "0", "apply",
                                "-m", mdir], env={**os.environ, **ENV}, capture_output=True, text=True)
            if r.returncode != 0:
                raise SystemExit(f"apply failed: {r.stderr[-2000:]}")
            applied = time.time() - t1
            em.clear()
            start = time.time()
            p, port = daemon(binary, em, mdir, ["--resync-interval", "1h", "--aws-rps", str(rps)])
            try:
                # Edits while the first full pass runs: file written -> first write call for it.
                written = {}
                time.sleep(5)
                for k in range(edits):
                    i = n - 1 - k * 7
                    role, region = plan[i][1]
                    with open(os.path.join(mdir, f"fleet-{i:05d}.yaml"), "w") as f:
                        f.write(manifest(f"fleet-{i:05d}", region, body(i).replace("reservedConcurrency: 2",
                                                                                   "reservedConcurrency: 3"), role))
                    written[f"fleet-{i:05d}"] = time.time()
                    time.sleep(1.5)
                wait(lambda: ready(port), 3 * 3600, "the first full pass")
                full = time.time() - start
                status = open(f"/proc/{p.pid}/status").read()
                rss = int(next(ln for ln in status.splitlines() if ln.startswith("VmHWM")).split()[1]) / 1024
                reqs = em.requests()
            finally:
                p.terminate()
                p.wait()
        first_write, first_call = {}, {}
        for q in reqs:
            if "/functions/" in q["path"] and q["service"] == "lambda":
                fn = q["path"].split("/functions/")[1].split("/")[0]
                if fn in written and q["t"] >= written[fn] and fn not in first_call:
                    first_call[fn] = q["t"]
        for q in reqs:
            if q["method"] == "PUT" and "/concurrency" in q["path"]:
                fn = q["path"].split("/functions/")[1].split("/")[0]
                if fn in written and fn not in first_write:
                    first_write[fn] = q["t"]
        lat = [first_write[f] - written[f] for f in written if f in first_write]
        edit_writes = len(first_write)
        to_call = [first_call[f] - written[f] for f in written if f in first_call]
        per_scope = {}
        for q in reqs:
            if q["service"] in ("lambda", "application-autoscaling") and not q["injected"]:
                scope = (q["account"], q["region"])
                per_scope[scope] = per_scope.get(scope, 0) + 1
        reads = sum(1 for q in reqs if q["service"] == "lambda" and q["method"] == "GET")
        floor = max(per_scope.values()) / rps
        return {
            "functions": n, "account_regions": 4, "rps_per_account_region": rps,
            "seed_seconds": round(seeded, 1), "apply_unlimited_seconds": round(applied, 1),
            "full_resync_seconds": round(full, 1), "floor_seconds": round(floor, 1),
            "ratio_to_floor": round(full / floor, 2), "calls_in_pass": sum(per_scope.values()),
            "lambda_reads_per_function": round(reads / n, 2), "peak_rss_mb": round(rss, 1),
            "edits": len(written), "edits_written": edit_writes,
            "edit_to_first_write_p50_ms": round(pct(lat, 50) * 1000) if lat else None,
            "edit_to_first_write_p95_ms": round(pct(lat, 95) * 1000) if lat else None,
            # The part before the AWS calls (debounce, reload, queue, the first permit).
            "edit_to_first_call_p50_ms": round(pct(to_call, 50) * 1000) if to_call else None,
        }
    finally:
        em.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "lambda-reconciler"))
    ap.add_argument("--fleet", type=int, default=10000)
    ap.add_argument("--rps", type=int, default=25)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--edits", type=int, default=20)
    ap.add_argument("--idle-seconds", type=int, default=120)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "events-results.json"))
    ap.add_argument("--skip", action="append", default=[], help="latency, idle or fleet")
    a = ap.parse_args()
    out = {"machine": f"{os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d")}
    if "latency" not in a.skip:
        out["events_delay_0s"] = latency(a.binary, "events", a.trials, 0)
        print("events 0s", out["events_delay_0s"], flush=True)
        out["events_delay_5s"] = latency(a.binary, "events", a.trials, 5)
        print("events 5s", out["events_delay_5s"], flush=True)
        out["polling_60s"] = latency(a.binary, "polling", a.trials, 0)
        print("polling 60s", out["polling_60s"], flush=True)
    if "idle" not in a.skip:
        reads = idle_queue_reads(a.binary, a.idle_seconds)
        out["idle_queue_reads_per_hour"] = round(reads * 3600 / a.idle_seconds)
        print("idle queue reads/h", out["idle_queue_reads_per_hour"], flush=True)
    if "fleet" not in a.skip:
        f = fleet(a.binary, a.fleet, a.rps, a.edits)
        out["fleet"] = f
        print("fleet", f, flush=True)
        if "idle_queue_reads_per_hour" in out:
            per_pass = f["calls_in_pass"] / f["functions"]
            queues = f["account_regions"]
            events = per_pass * 1 + out["idle_queue_reads_per_hour"] * queues / f["functions"]
            polling = per_pass * 60
            out["calls_per_function_hour"] = {"events_1h_safety_net": round(events, 3), "polling_60s": round(polling, 1),
                                              "ratio": round(polling / events, 1)}
    with open(a.out, "w") as fh:
        json.dump(out, fh, indent=2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
