"""Local AWS emulator for lambda-reconciler's tests: moto server plus an extension for the Lambda
APIs moto lacks or mishandles (provisioned concurrency, qualifier-keyed event invoke configs,
GetAccountSettings, an InProgress window after configuration updates), a request log and test
switches under /_ext/.

Run: python tests/emulator/server.py --port PORT   (prints "ready PORT" once listening; --port 0
picks a free port)
"""

import argparse
import json
import random
import re
import socket
import struct
import sys
import threading
import time
from datetime import datetime, timezone
from urllib.parse import parse_qs, unquote

from werkzeug.serving import make_server

from moto.applicationautoscaling.models import applicationautoscaling_backends
from moto.applicationautoscaling.responses import _build_policy, _build_scheduled_action, _build_target
from moto.awslambda.models import lambda_backends
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

ACCOUNT = DEFAULT_ACCOUNT_ID
LOCK = threading.RLock()

CONFIG = {
    # Seconds a provisioned concurrency config stays IN_PROGRESS before READY.
    "pc_ready_delay": 0.3,
    # Seconds LastUpdateStatus stays InProgress after UpdateFunctionConfiguration.
    "update_in_progress_seconds": 0.5,
    # "function:qualifier" -> StatusReason: provisioned concurrency goes FAILED.
    "fail_pc": {},
    # The next `count` AWS requests fail with `status` and error `code` (429 throttling, 500...).
    "fail_next": {"count": 0, "status": 429, "code": "TooManyRequestsException"},
    # Random faults per service (credential-scope name: lambda, application-autoscaling, ssm,
    # sns): {"throttle": rate, "error500": rate, "reset": rate, "conflict": rate (Lambda writes),
    # "latency_ms": ms, "latency_rate": rate}.
    "faults": {},
    # Every AWS request has its connection reset (the endpoint is down).
    "down": False,
}

THROTTLE_CODES = {"lambda": "TooManyRequestsException", "ssm": "ThrottlingException",
                  "application-autoscaling": "ThrottlingException", "sns": "Throttling"}

STATE = {
    "pc": {},  # (region, function, qualifier) -> dict
    "eic": {},  # (region, function, qualifier) -> dict
    "updating": {},  # (region, function) -> deadline
    "requests": [],
}

FN = r"(?P<fn>[^/]+)"
ROUTES = [
    ("pc", re.compile(rf"^/2019-09-30/functions/{FN}/provisioned-concurrency/?$")),
    ("eic_list", re.compile(rf"^/2019-09-25/functions/{FN}/event-invoke-config/list/?$")),
    ("eic", re.compile(rf"^/2019-09-25/functions/{FN}/event-invoke-config/?$")),
    ("account", re.compile(r"^/2016-08-19/account-settings/?$")),
    ("config", re.compile(rf"^/2015-03-31/functions/{FN}/configuration/?$")),
    ("code", re.compile(rf"^/2015-03-31/functions/{FN}/code/?$")),
    ("function", re.compile(rf"^/2015-03-31/functions/{FN}/?$")),
    ("alias", re.compile(rf"^/2015-03-31/functions/{FN}/aliases/(?P<alias>[^/]+)/?$")),
]


class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def now_iso():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def region_of(environ):
    auth = environ.get("HTTP_AUTHORIZATION", "")
    m = re.search(r"Credential=[^/]+/\d+/([^/]+)/", auth)
    return m.group(1) if m else "us-east-1"


def service_of(environ):
    auth = environ.get("HTTP_AUTHORIZATION", "")
    m = re.search(r"Credential=[^/]+/\d+/[^/]+/([^/]+)/", auth)
    return m.group(1) if m else ""


def random_fault(service, method, path):
    """A fault drawn from CONFIG["faults"][service]: {status, code}, {reset}, or None; sleeps for
    latency. `conflict` applies to Lambda writes (409 as while an update is in progress)."""
    if CONFIG.get("down"):
        return {"reset": True}
    f = CONFIG["faults"].get(service) or {}
    if f.get("latency_ms") and random.random() < float(f.get("latency_rate", 1.0)):
        time.sleep(float(f["latency_ms"]) / 1000)
    r = random.random()
    for kind in ("throttle", "error500", "reset", "conflict"):
        rate = float(f.get(kind, 0))
        if kind == "conflict" and not (service == "lambda" and method != "GET"):
            continue
        if r < rate:
            if kind == "throttle":
                return {"status": 429, "code": THROTTLE_CODES.get(service, "ThrottlingException")}
            if kind == "error500":
                return {"status": 500, "code": "ServiceException" if service == "lambda" else "InternalServerError"}
            if kind == "reset":
                return {"reset": True}
            return {"status": 409, "code": "ResourceConflictException"}
        r -= rate
    return None


def backend(region):
    return lambda_backends[ACCOUNT][region]


def function_name(raw):
    name = unquote(raw)
    if name.startswith("arn:"):
        name = name.split(":")[6]
    return name


def get_function(region, name):
    try:
        return backend(region).get_function(name)
    except Exception:
        arn = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}"
        raise ApiError(404, "ResourceNotFoundException", f"Function not found: {arn}")


def check_qualifier(region, name, qualifier, allow_latest):
    fn = get_function(region, name)
    if qualifier in (None, "", "$LATEST"):
        if not allow_latest:
            raise ApiError(400, "InvalidParameterValueException",
                           "Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
        return fn, None
    if qualifier.isdigit():
        versions = [str(v.version) for v in backend(region).list_versions_by_function(name)]
        if qualifier not in versions:
            raise ApiError(404, "ResourceNotFoundException", f"Function not found: {fn.function_arn}:{qualifier}")
        return fn, None
    try:
        return fn, backend(region).get_alias(qualifier, name)
    except Exception:
        raise ApiError(404, "ResourceNotFoundException", f"Cannot find alias arn: {fn.function_arn}:{qualifier}")


# ---------------------------------------------------------------- provisioned concurrency
def pc_view(key, cfg):
    region, name, qualifier = key
    if cfg["Status"] == "IN_PROGRESS" and time.monotonic() >= cfg["ready_at"]:
        reason = CONFIG["fail_pc"].get(f"{name}:{qualifier}")
        if reason:
            cfg.update(Status="FAILED", StatusReason=reason, allocated=0)
        else:
            cfg.update(Status="READY", allocated=cfg["requested"])
    out = {
        "RequestedProvisionedConcurrentExecutions": cfg["requested"],
        "AllocatedProvisionedConcurrentExecutions": cfg["allocated"],
        "AvailableProvisionedConcurrentExecutions": cfg["allocated"],
        "Status": cfg["Status"],
        "LastModified": cfg["LastModified"],
    }
    if cfg.get("StatusReason"):
        out["StatusReason"] = cfg["StatusReason"]
    return out


def handle_pc(method, region, name, query, body):
    name = function_name(name)
    if "List" in query:
        get_function(region, name)
        items = []
        for key, cfg in sorted(STATE["pc"].items()):
            if key[0] == region and key[1] == name:
                fn = get_function(region, name)
                items.append({"FunctionArn": f"{fn.function_arn}:{key[2]}", **pc_view(key, cfg)})
        return 200, {"ProvisionedConcurrencyConfigs": items}
    qualifier = query.get("Qualifier", [None])[0]
    fn, alias = check_qualifier(region, name, qualifier, allow_latest=False)
    key = (region, name, qualifier)
    cfg = STATE["pc"].get(key)
    if method == "GET":
        if not cfg:
            raise ApiError(404, "ProvisionedConcurrencyConfigNotFoundException",
                           "No Provisioned Concurrency Config found for this function")
        return 200, pc_view(key, cfg)
    if cfg:
        pc_view(key, cfg)
    if cfg and cfg["Status"] == "IN_PROGRESS":
        raise ApiError(409, "ResourceConflictException",
                       "Updating or deleting the provisioned concurrency config is not allowed while it is in progress")
    if method == "DELETE":
        if not cfg:
            raise ApiError(404, "ProvisionedConcurrencyConfigNotFoundException",
                           "No Provisioned Concurrency Config found for this function")
        del STATE["pc"][key]
        return 204, None
    requested = int(body.get("ProvisionedConcurrentExecutions", 0))
    if requested < 1:
        raise ApiError(400, "InvalidParameterValueException", "ProvisionedConcurrentExecutions must be >= 1")
    weights = ((alias.routing_config or {}).get("AdditionalVersionWeights") or {}) if alias else {}
    if weights:
        raise ApiError(400, "InvalidParameterValueException",
                       "Alias with weights can not be used with Provisioned Concurrency")
    reserved = fn.reserved_concurrency
    if reserved is not None:
        others = sum(c["requested"] for k, c in STATE["pc"].items() if k[:2] == (region, name) and k != key)
        if others + requested > int(reserved):
            raise ApiError(400, "InvalidParameterValueException",
                           "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function")
    cfg = {"requested": requested, "allocated": cfg["allocated"] if cfg else 0, "Status": "IN_PROGRESS",
           "ready_at": time.monotonic() + CONFIG["pc_ready_delay"], "LastModified": now_iso()}
    STATE["pc"][key] = cfg
    return 202, pc_view(key, cfg)


# ---------------------------------------------------------------- event invoke config
EIC_FIELDS = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")


def eic_view(region, key, cfg):
    fn = get_function(region, key[1])
    out = {"LastModified": cfg["LastModified"], "FunctionArn": f"{fn.function_arn}:{key[2]}"}
    out.update({k: cfg[k] for k in EIC_FIELDS if k in cfg})
    return out


def handle_eic(method, region, name, query, body, listing):
    name = function_name(name)
    if listing:
        get_function(region, name)
        items = [eic_view(region, k, c) for k, c in sorted(STATE["eic"].items()) if k[:2] == (region, name)]
        return 200, {"FunctionEventInvokeConfigs": items}
    qualifier = query.get("Qualifier", [None])[0]
    check_qualifier(region, name, qualifier, allow_latest=True)
    key = (region, name, qualifier or "$LATEST")
    cfg = STATE["eic"].get(key)
    missing = ApiError(404, "ResourceNotFoundException", f"The function {name} has no invoke configuration.")
    if method == "GET":
        if not cfg:
            raise missing
        return 200, eic_view(region, key, cfg)
    if method == "DELETE":
        if not cfg:
            raise missing
        del STATE["eic"][key]
        return 204, None
    for k, lo, hi in (("MaximumRetryAttempts", 0, 2), ("MaximumEventAgeInSeconds", 60, 21600)):
        if k in body and not lo <= int(body[k]) <= hi:
            raise ApiError(400, "InvalidParameterValueException", f"{k} must be between {lo} and {hi}")
    if method == "PUT":
        cfg = {k: body[k] for k in EIC_FIELDS if k in body}
    else:  # POST: Update merges
        if not cfg:
            raise missing
        cfg = {**cfg, **{k: body[k] for k in EIC_FIELDS if k in body}}
    cfg["LastModified"] = time.time()
    STATE["eic"][key] = cfg
    return 200, eic_view(region, key, cfg)


def handle_account(region):
    reserved = sum(int(f.reserved_concurrency or 0) for f in backend(region).list_functions())
    return 200, {
        "AccountLimit": {"TotalCodeSize": 80530636800, "CodeSizeUnzipped": 262144000, "CodeSizeZipped": 52428800,
                         "ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": 1000 - reserved},
        "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": len(list(backend(region).list_functions()))},
    }


# ------------------------------------------------- Application Auto Scaling pagination
# moto pages DescribeScalableTargets wrongly (its second token repeats), DescribeScalingPolicies by
# 100 and DescribeScheduledActions not at all; AWS pages them by at most 50, 10 and 50.
AAS_PAGES = {
    "DescribeScalableTargets": ("ScalableTargets", 50, _build_target),
    "DescribeScalingPolicies": ("ScalingPolicies", 10, _build_policy),
    "DescribeScheduledActions": ("ScheduledActions", 50, _build_scheduled_action),
}


def aas_describe(op, region, req):
    key, limit, build = AAS_PAGES[op]
    b = applicationautoscaling_backends[ACCOUNT][region]
    size = int(req.get("MaxResults") or limit)
    if not 1 <= size <= limit:
        raise ApiError(400, "ValidationException", f"MaxResults must be between 1 and {limit}")
    ns, dim = req.get("ServiceNamespace"), req.get("ScalableDimension")
    if op == "DescribeScalableTargets":
        items, ids = b._flatten_scalable_targets(ns), req.get("ResourceIds") or []
        items = [t for t in items if not ids or t.resource_id in ids]
    else:
        items = list(b.policies.values()) if op == "DescribeScalingPolicies" else list(b.scheduled_actions)
        names = req.get("PolicyNames") or req.get("ScheduledActionNames") or []
        name = (lambda o: o.policy_name) if op == "DescribeScalingPolicies" else (lambda o: o.scheduled_action_name)
        items = [o for o in items if o.service_namespace == ns and (not names or name(o) in names)
                 and (not req.get("ResourceId") or o.resource_id == req["ResourceId"])]
    items = [o for o in items if not dim or o.scalable_dimension == dim]
    start = int(req.get("NextToken") or 0)
    page = items[start:start + size]
    out = {key: [build(o) for o in page]}
    if start + size < len(items):
        out["NextToken"] = str(start + size)
    return out


# ---------------------------------------------------------------- WSGI plumbing
def respond(start_response, status, body, code=None):
    reasons = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request",
               404: "Not Found", 409: "Conflict", 429: "Too Many Requests", 500: "Internal Server Error"}
    data = b"" if body is None else json.dumps(body).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    if code:
        headers.append(("x-amzn-ErrorType", code))
    start_response(f"{status} {reasons.get(status, 'Error')}", headers)
    return [data]


def error(start_response, e):
    return respond(start_response, e.status, {"Type": "User", "message": e.message}, e.code)


def call_inner(app, environ):
    captured = {}

    def sr(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, headers

    chunks = app(environ, sr)
    body = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    return captured["status"], captured["headers"], body


def finish(start_response, status, headers, body):
    headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
    headers.append(("Content-Length", str(len(body))))
    start_response(status, headers)
    return [body]


class Extension:
    def __init__(self, inner):
        self.inner = inner

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ["REQUEST_METHOD"]
        if path.startswith("/_ext/"):
            return self.admin(environ, start_response, path, method)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = __import__("io").BytesIO(raw)
        region = region_of(environ)
        service = service_of(environ)
        with LOCK:
            fault = CONFIG["fail_next"]
            injected = fault.get("count", 0) > 0
            if injected:
                fault["count"] -= 1
        if not injected:
            fault = random_fault(service, method, path)
            injected = fault is not None
        with LOCK:
            STATE["requests"].append({"t": time.time(), "method": method, "path": path, "query": environ.get("QUERY_STRING", ""),
                                      "target": environ.get("HTTP_X_AMZ_TARGET", ""), "region": region, "service": service,
                                      "body": raw.decode("utf-8", "replace") if service == "sns" else "",
                                      "injected": injected})
        if injected:
            return self.fault(environ, start_response, fault)
        for name, rx in ROUTES:
            m = rx.match(path)
            if m:
                try:
                    with LOCK:
                        return self.lambda_route(name, m, environ, start_response, method, region, raw)
                except ApiError as e:
                    return error(start_response, e)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.endswith(".DeregisterScalableTarget"):
            return self.deregister(environ, start_response, region, raw)
        op = target.rsplit(".", 1)[-1]
        if op in AAS_PAGES:
            try:
                with LOCK:
                    return respond(start_response, 200, aas_describe(op, region, json.loads(raw or b"{}")))
            except ApiError as e:
                return error(start_response, e)
        return self.inner(environ, start_response)

    @staticmethod
    def fault(environ, start_response, fault):
        if fault.get("reset"):
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            return []
        status, code = int(fault.get("status", 429)), fault.get("code", "TooManyRequestsException")
        if environ.get("HTTP_X_AMZ_TARGET"):  # JSON protocol services carry the code in __type
            body = {"__type": code, "message": "injected fault"}
        else:
            body = {"Type": "Service" if status >= 500 else "User", "message": "injected fault"}
        return respond(start_response, status, body, code)

    def deregister(self, environ, start_response, region, raw):
        """AWS removes a target's policies and scheduled actions with it; moto keeps them."""
        status, headers, out = call_inner(self.inner, environ)
        if status.startswith("200"):
            req = json.loads(raw or b"{}")
            b = applicationautoscaling_backends[ACCOUNT][region]
            same = lambda o: (o.service_namespace, o.resource_id, o.scalable_dimension) == (
                req.get("ServiceNamespace"), req.get("ResourceId"), req.get("ScalableDimension"))
            with LOCK:
                for k in [k for k, p in b.policies.items() if same(p)]:
                    del b.policies[k]
                b.scheduled_actions = [a for a in b.scheduled_actions if not same(a)]
        start_response(status, headers)
        return [out]

    def lambda_route(self, name, m, environ, start_response, method, region, raw):
        query = parse_qs(environ.get("QUERY_STRING", ""))
        body = json.loads(raw) if raw else {}
        if name == "pc":
            return respond(start_response, *handle_pc(method, region, m["fn"], query, body))
        if name in ("eic", "eic_list"):
            return respond(start_response, *handle_eic(method, region, m["fn"], query, body, name == "eic_list"))
        if name == "account":
            return respond(start_response, *handle_account(region))
        fn_key = (region, function_name(m["fn"]))
        busy = STATE["updating"].get(fn_key, 0) > time.monotonic()
        if name in ("config", "code") and method == "PUT":
            if busy:
                fn = get_function(region, fn_key[1])
                raise ApiError(409, "ResourceConflictException",
                               f"The operation cannot be performed at this time. An update is in progress for resource: {fn.function_arn}")
            status, headers, out = call_inner(self.inner, environ)
            if status.startswith("200"):
                STATE["updating"][fn_key] = time.monotonic() + CONFIG["update_in_progress_seconds"]
                out = self.patch_status(out, True, None)
            return finish(start_response, status, headers, out)
        if name in ("config", "function") and method == "GET":
            status, headers, out = call_inner(self.inner, environ)
            if status.startswith("200"):
                fn = backend(region).get_function(fn_key[1])
                out = self.patch_status(out, busy, fn.reserved_concurrency if name == "function" else None)
            return finish(start_response, status, headers, out)
        if name == "alias" and method == "DELETE":
            status, headers, out = call_inner(self.inner, environ)
            for store in (STATE["pc"], STATE["eic"]):
                store.pop((region, fn_key[1], unquote(m["alias"])), None)
            start_response(status, headers)
            return [out]
        return self.inner(environ, start_response)

    @staticmethod
    def patch_status(out, busy, reserved):
        doc = json.loads(out)
        conf = doc.get("Configuration", doc)
        conf["LastUpdateStatus"] = "InProgress" if busy else "Successful"
        if busy:
            conf["LastUpdateStatusReasonCode"] = None
        if reserved is not None and "Concurrency" not in doc and "Configuration" in doc:
            doc["Concurrency"] = {"ReservedConcurrentExecutions": int(reserved)}
        return json.dumps(doc).encode()

    def admin(self, environ, start_response, path, method):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
        if path == "/_ext/seed/function" and method == "POST":
            import seed  # beside this file

            port = environ.get("SERVER_PORT")
            arn = seed.function(f"http://127.0.0.1:{port}", body.get("region", "us-east-1"), body["name"],
                                int(body.get("versions", 2)))
            return respond(start_response, 200, {"FunctionArn": arn})
        with LOCK:
            if path == "/_ext/requests" and method == "GET":
                return respond(start_response, 200, STATE["requests"])
            if path == "/_ext/requests" and method == "DELETE":
                STATE["requests"].clear()
                return respond(start_response, 204, None)
            if path == "/_ext/config" and method == "POST":
                CONFIG.update(body)
                return respond(start_response, 200, CONFIG)
            if path == "/_ext/health":
                return respond(start_response, 200, {"ok": True})
        return respond(start_response, 404, {"message": "unknown admin path"})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    sys.path.insert(0, __import__("os").path.dirname(__file__))
    app = Extension(DomainDispatcherApplication(create_backend_app))
    server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    print(f"ready {server.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
