"""Rollout benchmark: how fast the daemon acts on a rollout, against the emulator.

  * step latency: from the end of a step's pause (the UpdateAlias that set its weight plus the
    pause) to the UpdateAlias that sets the next weight;
  * alarm to restore: from SetAlarmState(ALARM) returning to the UpdateAlias that puts the alias
    back on its old version;
  * alarm polling: DescribeAlarms calls per poll and region while N rollouts are in flight;
  * the canary judge (bench/rollout_judge.py): GetMetricData per poll with N judged rollouts, and
    an error-rate jump to the roll back, with no alarm defined.

Run through scripts/bench-rollout (builds the release binary and the venv first):
    scripts/bench-rollout [--functions 20] [--judge-only] [--out bench/rollout-results.json]
The results are merged into --out (keys this run did not measure are kept).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "emulator"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seed  # noqa: E402
from bench import REGION, Emulator, free_port, http  # noqa: E402
import rollout_judge  # noqa: E402
from rollout_judge import alias_writes  # noqa: E402

PAUSE_S = 3  # the first steps' pause
HOLD = "10m"  # the last step holds until the alarms fire
POLL = "2s"  # the daemon's --alarm-poll (its default)
TAG = "lambda-reconciler.io/rollout/live"


def name(i):
    return f"bench-roll-{i:03d}"


def manifest(i, version):
    return f"""apiVersion: lambda-reconciler.io/v1alpha1
kind: FunctionConfig
metadata:
  name: {name(i)}
spec:
  aliases:
    live:
      functionVersion: "{version}"
      deployment:
        steps: [{{weight: 10, pause: {PAUSE_S}s}}, {{weight: 20, pause: {PAUSE_S}s}}, {{weight: 30, pause: {HOLD}}}]
        alarms: [{name(i)}-errors]
"""


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def summary(xs):
    return {"n": len(xs), "p50_ms": round(percentile(xs, 50) * 1000, 1), "p95_ms": round(percentile(xs, 95) * 1000, 1),
            "max_ms": round(max(xs) * 1000, 1)}


def alarms(em, binary, env, n):
    """The alarm figures with `n` rollouts held by alarms."""
    d = tempfile.mkdtemp(prefix="lr-bench-rollout-")
    daemon = None
    try:
        lam = seed.client("lambda", em.url, REGION)
        cw = seed.client("cloudwatch", em.url, REGION)
        for i in range(n):
            seed.function(em.url, REGION, name(i), 2)
            lam.create_alias(FunctionName=name(i), Name="live", FunctionVersion="1")
            cw.put_metric_alarm(AlarmName=f"{name(i)}-errors", Namespace="AWS/Lambda", MetricName="Errors",
                                Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                                ComparisonOperator="GreaterThanOrEqualToThreshold")
            with open(os.path.join(d, f"{name(i)}.yaml"), "w") as f:
                f.write(manifest(i, "2"))
        em.clear()
        listen = f"127.0.0.1:{free_port()}"
        daemon = subprocess.Popen([binary, "--endpoint-url", em.url, "run", "-m", d, "--listen", listen,
                                   "--resync-interval", "1h", "--alarm-poll", POLL],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Every rollout reaches its last step (30 %, held for 10 minutes).
        deadline = time.time() + 120
        while time.time() < deadline:
            reqs = em.requests()
            if all(any(w == 0.3 for _, _, w in alias_writes(reqs, name(i))) for i in range(n)):
                break
            time.sleep(0.2)
        else:
            raise SystemExit("the rollouts did not reach their last step")
        window_start = time.time()
        time.sleep(10)  # a steady window with every rollout in flight: count the alarm polls
        window_end = time.time()
        fired = {}
        for i in range(n):
            cw.set_alarm_state(AlarmName=f"{name(i)}-errors", StateValue="ALARM", StateReason="bench")
            fired[name(i)] = time.time()
            time.sleep(0.05)
        deadline = time.time() + 120
        while time.time() < deadline:
            reqs = em.requests()
            if all(any(v == "1" and w is None for _, v, w in alias_writes(reqs, name(i))) for i in range(n)):
                break
            time.sleep(0.2)
        else:
            raise SystemExit("not every rollout rolled back")
        reqs = em.requests()
        step_delays, restore, restore_writes = [], [], []
        for i in range(n):
            fn = name(i)
            writes = alias_writes(reqs, fn)
            # A step is its alias write: the pause of step k (10 %, 20 %) ends PAUSE_S after the
            # write that set its weight (the controller counts from when that write returned, a
            # few ms later, so this slightly overstates the delay), and step k+1's write follows.
            for step in (1, 2):
                began = [t for t, _, w in writes if w is not None and abs(w - step / 10) < 1e-9]
                nxt = [t for t, _, w in writes if w is not None and abs(w - (step + 1) / 10) < 1e-9]
                if began and nxt:
                    step_delays.append(nxt[0] - (began[0] + PAUSE_S))
            # The last write back to version 1 counts (a conditional write refused with 412 is
            # followed by the reconcile's; taking the last never counts a refused one).
            back = [t for t, v, w in writes if v == "1" and w is None]
            restore.append(back[-1] - fired[fn])
            restore_writes.append(len(back))
        polls = [r for r in reqs if r["path"].endswith("/operation/DescribeAlarms")
                 and window_start <= r["t"] < window_end and '"StateValue": "ALARM"' in (r["body"] or "")]
        named = [r for r in reqs if r["path"].endswith("/operation/DescribeAlarms")
                 and window_start <= r["t"] < window_end and "AlarmNames" in (r["body"] or "")]
        window = window_end - window_start
        return {
            "rollouts_in_flight": n,
            "step_pause_s": PAUSE_S,
            "alarm_poll": POLL,
            "step_weight_after_pause_end": summary(step_delays),
            "alarm_to_alias_restored": summary(restore),
            "alias_writes_back_per_rollback": round(sum(restore_writes) / len(restore_writes), 2),
            "poll_window_s": round(window, 2),
            "describe_alarms_state_alarm_calls_in_window": len(polls),
            "describe_alarms_named_calls_in_window": len(named),
            "describe_alarms_calls_per_poll": round(len(polls) / (window / 2.0), 2),
        }
    finally:
        if daemon is not None:
            daemon.terminate()
            daemon.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--functions", type=int, default=20)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "lambda-reconciler"))
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "rollout-results.json"))
    ap.add_argument("--judge-only", action="store_true", help="only the canary judge's figures")
    a = ap.parse_args()
    em = Emulator()
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDTEST", AWS_SECRET_ACCESS_KEY="x", AWS_REGION=REGION,
               NO_PROXY="127.0.0.1,localhost")
    try:
        results = rollout_judge.run(em, a.binary, env, a.functions, POLL, summary)
        if not a.judge_only:
            em.clear()
            results |= alarms(em, a.binary, env, a.functions)
    finally:
        em.stop()
    results["machine"] = {"cpus": os.cpu_count(), "emulator": "moto 5.2.5 + tests/emulator extension"}
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    if os.path.exists(a.out):
        with open(a.out) as f:
            results = json.load(f) | results
    with open(a.out, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write("\n")
    print(json.dumps(results, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
