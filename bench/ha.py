"""High availability (issue 16), against the emulator on this machine, with the default lease
timings (duration 20 s, heartbeat 5 s, follower poll 1 s):

Every hand-over starts at rest: the leader has finished its first pass.

1. takeover after kill -9 of the leader: from the signal to the follower reporting "leader" in
   /status (polled every 20 ms), median and max over --runs runs (goal: median <= 25 s);
2. takeover after SIGTERM (the leader releases the lease): same measure (goal: median <= 2 s);
3. DynamoDB calls per replica-hour at rest: the emulator's request log over --rest-seconds with
   one leader and one follower, by access key, scaled to an hour.

Each run chains: the follower that took over is the next leader, and a fresh replica joins as
its follower. Replicas sign with different access keys (AKIDTEST, AKIDTESTB) so the log tells
them apart.

Run through scripts/bench-ha (builds the release binary first):
    scripts/bench-ha [--runs 10] [--rest-seconds 120] [--out bench/ha-results.json]
"""

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
from bench import ROOT, Emulator, http as call  # noqa: E402

REGION = "ap-northeast-1"
KEYS = ["AKIDTEST", "AKIDTESTB"]
FUNCTIONS = 20


def seed(em):
    ddb = bench.seed.client("dynamodb", em.url, REGION)
    ddb.create_table(TableName="lease", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}])
    for i in range(FUNCTIONS):
        bench.seed.function(em.url, REGION, f"app-ha-{i}", 1)


def manifests(d):
    for i in range(FUNCTIONS):
        with open(os.path.join(d, f"f{i}.yaml"), "w") as f:
            f.write("apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n"
                    f"  name: app-ha-{i}\nspec:\n  reservedConcurrency: {i + 1}\n")


class Replica:
    def __init__(self, binary, em, mdir, key):
        self.key = key
        args = [binary, "--endpoint-url", em.url, "--region", REGION, "--log-format", "json", "run", "-m", mdir,
                "--listen", "127.0.0.1:0", "--lease-table", "lease", "--resync-interval", "1h"]
        env = {**os.environ, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": "x", "NO_PROXY": "127.0.0.1,localhost",
               "RUST_LOG": "warn,lambda_reconciler=info"}
        self.p = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for line in self.p.stderr:
            if "lambda-reconciler running" in line:
                self.port = int(json.loads(line)["listen"].rsplit(":", 1)[1])
                break
        threading.Thread(target=lambda: [None for _ in self.p.stderr], daemon=True).start()

    def role(self):
        try:
            return json.loads(call(f"http://127.0.0.1:{self.port}/status")[1])["role"]
        except Exception:
            return None

    def wait_role(self, role, deadline=120):
        start = time.time()
        while self.role() != role:
            if time.time() - start > deadline:
                raise SystemExit(f"timed out waiting for role {role}")
            time.sleep(0.02)
        return time.time()

    def wait_ready(self, deadline=300):
        start = time.time()
        while call(f"http://127.0.0.1:{self.port}/readyz")[0] != 200:
            if time.time() - start > deadline:
                raise SystemExit("timed out waiting for readiness")
            time.sleep(0.05)

    def lease_reads(self):
        text = call(f"http://127.0.0.1:{self.port}/metrics")[1].decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("lambda_reconciler_aws_api_calls_total") and 'operation="GetItem"' in line)

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def takeovers(binary, em, mdir, runs, sig):
    """`runs` hand-overs by `sig`; returns seconds from the signal to the follower leading."""
    leader = Replica(binary, em, mdir, KEYS[0])
    leader.wait_role("leader")
    times = []
    for run in range(runs):
        follower = Replica(binary, em, mdir, KEYS[(run + 1) % 2])
        follower.wait_role("follower")
        # At rest: the leader finished its first pass (nothing in flight to drain), and the
        # follower has read the lease at least twice (it is watching it).
        leader.wait_ready()
        while follower.lease_reads() < 2:
            time.sleep(0.02)
        # A random moment within a heartbeat: the signal lands anywhere in the renewal and poll
        # cycles, not at the phase the waits above happen to leave.
        time.sleep(random.uniform(0, 5))
        t0 = time.time()
        os.kill(leader.p.pid, sig)
        t1 = follower.wait_role("leader")
        times.append(t1 - t0)
        print(f"  {signal.Signals(sig).name} run {run + 1}: {t1 - t0:.3f} s", flush=True)
        leader.stop()
        leader = follower
    leader.stop()
    return times


def at_rest(binary, em, mdir, seconds):
    """DynamoDB calls per replica-hour with one leader and one follower, measured over `seconds`."""
    a = Replica(binary, em, mdir, KEYS[0])
    a.wait_role("leader")
    b = Replica(binary, em, mdir, KEYS[1])
    b.wait_role("follower")
    a.wait_ready()  # the leader's first pass is done
    em.clear()
    time.sleep(seconds)
    reqs = em.requests()
    counts = {}
    for r in reqs:
        if r.get("service") == "dynamodb":
            op = r.get("target", "").rsplit(".", 1)[-1]
            counts.setdefault(r.get("key"), {}).setdefault(op, 0)
            counts[r.get("key")][op] += 1
    other = sum(1 for r in reqs if r.get("service") != "dynamodb")
    a.stop()
    b.stop()
    scale = 3600 / seconds
    per_hour = {role: {op: round(n * scale) for op, n in counts.get(key, {}).items()}
                for role, key in (("leader", KEYS[0]), ("follower", KEYS[1]))}
    return {"window_s": seconds, "counts": counts, "per_replica_hour": per_hour, "other_aws_calls_in_window": other}


def summary(xs):
    return {"median_s": round(statistics.median(xs), 3), "max_s": round(max(xs), 3), "min_s": round(min(xs), 3),
            "runs": [round(x, 3) for x in xs]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "lambda-reconciler"))
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--rest-seconds", type=int, default=120)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "ha-results.json"))
    args = ap.parse_args()
    em = Emulator()
    try:
        seed(em)
        with tempfile.TemporaryDirectory() as mdir:
            manifests(mdir)
            print("takeover after SIGTERM", flush=True)
            term = takeovers(args.binary, em, mdir, args.runs, signal.SIGTERM)
            print("takeover after kill -9", flush=True)
            kill = takeovers(args.binary, em, mdir, args.runs, signal.SIGKILL)
            print(f"DynamoDB calls at rest over {args.rest_seconds} s", flush=True)
            rest = at_rest(args.binary, em, mdir, args.rest_seconds)
    finally:
        em.stop()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    results = {
        "commit": commit,
        "lease": {"duration_s": 20, "heartbeat_s": 5, "poll_s": 1},
        "functions": FUNCTIONS,
        "takeover_after_sigterm": summary(term),
        "takeover_after_kill9": summary(kill),
        "at_rest": rest,
    }
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
