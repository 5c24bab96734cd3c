"""Release benchmark: how fast a committed code change becomes a canary, against the emulator.

  * save to UpdateFunctionCode: from the manifest file's atomic rename (a new `objectVersion`) to
    the daemon's UpdateFunctionCode request, with an idle daemon;
  * code updated to first weight: from the end of the code update (its request plus the
    emulator's InProgress window) to the UpdateAlias that puts the canary's first weight (10 %)
    on the version published from it;
  * save to first weight, end to end.

Each round commits a new zip, waits for the canary to finish (10 % for 1 s, then 100 %), then
starts the next. Run through scripts/bench-release (builds the release binary and the venv):
    scripts/bench-release [--rounds 20] [--out bench/release-results.json]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "emulator"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seed  # noqa: E402
from bench import REGION, Emulator, free_port, http  # noqa: E402
from rollout import alias_writes, summary  # noqa: E402

FN = "bench-release"
BUCKET = "bench-code"
KEY = "release/fn.zip"
IN_PROGRESS_S = 0.5  # the emulator's update_in_progress_seconds (its default)


def manifest(version):
    return f"""apiVersion: lambda-reconciler.io/v1alpha1
kind: FunctionConfig
metadata:
  name: {FN}
spec:
  publish: onChange
  code:
    s3: {{bucket: {BUCKET}, key: {KEY}, objectVersion: "{version}"}}
  aliases:
    live:
      functionVersion: published
      deployment:
        steps: [{{weight: 10, pause: 1s}}]
"""


def put_object(em, text):
    status, body = http(em.url + "/_ext/seed/object", "POST",
                        {"region": REGION, "bucket": BUCKET, "key": KEY, "text": text})
    assert status == 200, body
    return json.loads(body)["VersionId"]


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)
    return time.time()


def code_updates(reqs):
    return [r["t"] for r in reqs if r["method"] == "PUT" and r["path"].endswith(f"/functions/{FN}/code")]


def wait_for(what, cond, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "lambda-reconciler"))
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "release-results.json"))
    a = ap.parse_args()
    em = Emulator()
    d = tempfile.mkdtemp(prefix="lr-bench-release-")
    path = os.path.join(d, f"{FN}.yaml")
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDTEST", AWS_SECRET_ACCESS_KEY="x", AWS_REGION=REGION,
               NO_PROXY="127.0.0.1,localhost")
    daemon = None
    saves, firsts, ends = [], [], []
    try:
        seed.function(em.url, REGION, FN, 1)
        write_atomically(path, manifest(put_object(em, "round 0")))
        listen = f"127.0.0.1:{free_port()}"
        daemon = subprocess.Popen([a.binary, "--endpoint-url", em.url, "run", "-m", d, "--listen", listen,
                                   "--resync-interval", "1h"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        lam = seed.client("lambda", em.url, REGION)

        def settled():
            try:
                al = lam.get_alias(FunctionName=FN, Name="live")
            except Exception:
                return None
            weights = (al.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
            return None if weights else al["FunctionVersion"]

        current = wait_for("the first release", settled)
        for r in range(1, a.rounds + 1):
            version = put_object(em, f"round {r}")
            time.sleep(0.3)  # idle daemon: nothing in flight when the file is saved
            em.clear()
            saved = write_atomically(path, manifest(version))
            update = wait_for("UpdateFunctionCode", lambda: next(iter(code_updates(em.requests())), None))
            first = wait_for("the first weight", lambda: next(
                (t for t, _, w in alias_writes(em.requests(), FN) if w is not None and abs(w - 0.1) < 1e-9), None))
            saves.append(update - saved)
            firsts.append(first - (update + IN_PROGRESS_S))
            ends.append(first - saved)
            current = wait_for("the promotion", lambda: (v := settled()) != current and v)
        result = {"rounds": a.rounds, "save_to_update_code": summary(saves),
                  "code_updated_to_first_weight": summary(firsts), "save_to_first_weight": summary(ends)}
        print(json.dumps(result, indent=2))
        with open(a.out, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    finally:
        if daemon:
            daemon.terminate()
            daemon.wait()
        em.stop()


if __name__ == "__main__":
    main()
