"""Release-waves benchmark: a three-wave release of one function across three regions, each wave one
canary step, against the emulator. Measures the time from the commit (the manifests written) to the
last wave's alias at 100 %, and its overhead over the configured pauses and bakes (target <= 10 s).

Run through scripts/bench-rollout --waves (builds the release binary and the venv first):
    scripts/bench-rollout --waves [--rounds 3] [--out bench/waves-results.json]
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
from bench import REGION, Emulator, free_port  # noqa: E402

FN = "bench-wave"
REGIONS = ["eu-west-1", "us-east-1", REGION]  # waves 1, 2, 3
PAUSE_S = 3  # each wave's one canary step
BAKE_S = 2  # after waves 1 and 2 (the last wave's bake gates nothing)
CONFIGURED_S = len(REGIONS) * PAUSE_S + (len(REGIONS) - 1) * BAKE_S


def manifest(wave, region, version):
    return f"""apiVersion: lambda-reconciler.io/v1alpha1
kind: FunctionConfig
metadata:
  name: {FN}-{wave}
spec:
  functionName: {FN}
  region: {region}
  aliases:
    live:
      functionVersion: "{version}"
      deployment:
        steps: [{{weight: 10, pause: {PAUSE_S}s}}]
        release: {{name: bench, wave: {wave}, bake: {BAKE_S}s}}
"""


def write_all(d, version):
    for wave, region in enumerate(REGIONS, start=1):
        path = os.path.join(d, f"{FN}-{wave}.yaml")
        with open(path + ".tmp", "w") as f:
            f.write(manifest(wave, region, version))
        os.replace(path + ".tmp", path)


def finished(reqs, region, version, since):
    """When the alias in `region` was put on `version` at 100 % after `since` (None: not yet)."""
    for r in reqs:
        if r["t"] < since or r.get("region") != region or r["method"] != "PUT":
            continue
        if not r["path"].endswith(f"/functions/{FN}/aliases/live"):
            continue
        body = json.loads(r["body"] or "{}")
        weights = (body.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        if body.get("FunctionVersion") == version and not weights:
            return r["t"]
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "lambda-reconciler"))
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "waves-results.json"))
    a = ap.parse_args()
    em = Emulator()
    d = tempfile.mkdtemp(prefix="lr-bench-waves-")
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDTEST", AWS_SECRET_ACCESS_KEY="x", AWS_REGION=REGION,
               NO_PROXY="127.0.0.1,localhost")
    daemon = None
    rounds = []
    try:
        for region in REGIONS:
            seed.function(em.url, region, FN, 3)
            seed.client("lambda", em.url, region).create_alias(FunctionName=FN, Name="live", FunctionVersion="1")
        write_all(d, "1")
        listen = f"127.0.0.1:{free_port()}"
        daemon = subprocess.Popen([a.binary, "--endpoint-url", em.url, "run", "-m", d, "--listen", listen,
                                   "--resync-interval", "1h"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2)  # the first pass (nothing to change) before the first commit
        for k in range(a.rounds):
            version = "2" if k % 2 == 0 else "3"
            start = time.time()
            write_all(d, version)
            deadline = start + CONFIGURED_S + 120
            ends = {}
            while time.time() < deadline and len(ends) < len(REGIONS):
                reqs = em.requests()
                for region in REGIONS:
                    t = finished(reqs, region, version, start)
                    if t is not None:
                        ends[region] = t
                time.sleep(0.2)
            if len(ends) < len(REGIONS):
                raise SystemExit(f"round {k}: the release did not finish: {ends}")
            order = [ends[r] for r in REGIONS]
            if order != sorted(order):
                raise SystemExit(f"round {k}: waves finished out of order: {ends}")
            total = ends[REGIONS[-1]] - start
            rounds.append({"version": version, "total_s": round(total, 2),
                           "overhead_s": round(total - CONFIGURED_S, 2)})
            em.clear()
        overheads = [r["overhead_s"] for r in rounds]
        results = {
            "regions": REGIONS,
            "waves": len(REGIONS),
            "step_pause_s": PAUSE_S,
            "bake_s": BAKE_S,
            "configured_pauses_and_bakes_s": CONFIGURED_S,
            "rounds": rounds,
            "overhead_median_s": round(statistics.median(overheads), 2),
            "overhead_max_s": round(max(overheads), 2),
            "machine": {"cpus": os.cpu_count(), "emulator": "moto 5.2.5 + tests/emulator extension"},
        }
    finally:
        if daemon is not None:
            daemon.terminate()
            daemon.wait()
        em.stop()
    with open(a.out, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write("\n")
    print(json.dumps(results, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
