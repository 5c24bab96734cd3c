"""The rollout benchmark's canary-judge part (issue 29): N rollouts judged by `analysis` with no
alarm defined, in one region, against the emulator.

  * GetMetricData per poll: the region's calls (and their queries) in a steady window while every
    rollout holds its step, over the polls of that window (window ÷ --alarm-poll);
  * error-rate jump to restore: from PutMetricData returning (the data exists: v1 1,000
    invocations and 5 errors, v2 100 invocations and 20 errors) to the UpdateAlias that puts the
    alias back on version 1; the target is one metrics period (60 s) + 5 s.
"""

import datetime
import json
import os
import subprocess
import tempfile
import time

import seed  # noqa: E402
from bench import REGION, free_port  # noqa: E402

PERIOD_S = 60  # analysis.period (its default)
WINDOW_S = 10


def name(i):
    return f"bench-judge-{i:03d}"


def manifest(i):
    return f"""apiVersion: lambda-reconciler.io/v1alpha1
kind: FunctionConfig
metadata:
  name: {name(i)}
spec:
  aliases:
    live:
      functionVersion: "2"
      deployment:
        steps: [{{weight: 10, pause: 10m}}]
        analysis: {{minInvocations: 10}}
"""


def alias_writes(reqs, fn):
    """(t, version, weight) of each UpdateAlias on fn's alias live (also bench/rollout.py's)."""
    out = []
    for r in reqs:
        if r["method"] == "PUT" and r["path"].endswith(f"/functions/{fn}/aliases/live"):
            body = json.loads(r["body"] or "{}")
            weights = ((body.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {})
            out.append((r["t"], body.get("FunctionVersion"), next(iter(weights.values()), None)))
    return out


def publish(cw, fn, version, invocations, errors):
    dims = [{"Name": "FunctionName", "Value": fn}, {"Name": "Resource", "Value": f"{fn}:live"},
            {"Name": "ExecutedVersion", "Value": version}]
    now = datetime.datetime.now(datetime.timezone.utc)
    cw.put_metric_data(Namespace="AWS/Lambda", MetricData=[
        {"MetricName": "Invocations", "Dimensions": dims, "Timestamp": now, "Value": invocations},
        {"MetricName": "Errors", "Dimensions": dims, "Timestamp": now, "Value": errors},
        {"MetricName": "Duration", "Dimensions": dims, "Timestamp": now, "Values": [100.0], "Counts": [invocations]},
    ])


def wait(what, cond, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise SystemExit(what)


def run(em, binary, env, n, poll, summary):
    """The judge figures with `n` judged rollouts, the daemon polling every `poll` (`2s`)."""
    d = tempfile.mkdtemp(prefix="lr-bench-judge-")
    lam = seed.client("lambda", em.url, REGION)
    cw = seed.client("cloudwatch", em.url, REGION)
    for i in range(n):
        seed.function(em.url, REGION, name(i), 2)
        lam.create_alias(FunctionName=name(i), Name="live", FunctionVersion="1")
        with open(os.path.join(d, f"{name(i)}.yaml"), "w") as f:
            f.write(manifest(i))
    em.clear()
    listen = f"127.0.0.1:{free_port()}"
    daemon = subprocess.Popen([binary, "--endpoint-url", em.url, "run", "-m", d, "--listen", listen,
                               "--resync-interval", "1h", "--alarm-poll", poll],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait("the judged rollouts did not reach their step", lambda: all(
            any(w == 0.1 for _, _, w in alias_writes(em.requests(), name(i))) for i in range(n)))
        time.sleep(2 * float(poll.rstrip("s")))  # the step's first reads settle into the poll
        start = time.time()
        time.sleep(WINDOW_S)
        end = time.time()
        calls = [r for r in em.requests() if r["path"].endswith("/operation/GetMetricData") and start <= r["t"] < end]
        sizes = [len(json.loads(r["body"] or "{}").get("MetricDataQueries") or []) for r in calls]
        polls = (end - start) / float(poll.rstrip("s"))
        data_at = {}
        for i in range(n):
            publish(cw, name(i), "1", 1000, 5)
            publish(cw, name(i), "2", 100, 20)
            data_at[name(i)] = time.time()
            time.sleep(0.05)
        wait("not every judged rollout rolled back", lambda: all(
            any(v == "1" and w is None for _, v, w in alias_writes(em.requests(), name(i))) for i in range(n)))
        reqs = em.requests()
        restore = [min(t for t, v, w in alias_writes(reqs, name(i)) if v == "1" and w is None) - data_at[name(i)]
                   for i in range(n)]
    finally:
        daemon.terminate()
        daemon.wait()
    return {
        "judged_rollouts_in_flight": n,
        "judge_period_s": PERIOD_S,
        "judge_poll": poll,
        "judge_poll_window_s": round(end - start, 2),
        "get_metric_data_calls_in_window": len(calls),
        "get_metric_data_queries_per_call": sorted(set(sizes)),
        "get_metric_data_calls_per_poll": round(len(calls) / polls, 2),
        "get_metric_data_calls_per_poll_target": 1.0,
        "judge_error_jump_to_alias_restored": summary(restore),
        "judge_error_jump_to_alias_restored_target_ms": (PERIOD_S + 5) * 1000,
    }
