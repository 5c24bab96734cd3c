"""Shared state of the emulator extension: switches (CONFIG), extension state (STATE), the lock,
the API error type, request helpers and the WSGI response helpers."""

import json
import re
import threading
from datetime import datetime, timezone

from moto.core.models import DEFAULT_ACCOUNT_ID

ACCOUNT = DEFAULT_ACCOUNT_ID
LOCK = threading.RLock()
# The account of the request being handled (set per request from its access key, as moto does:
# keys that moto's STS issued for an assumed role belong to that role's account).
_CURRENT = threading.local()


def account():
    """The account of the request this thread handles (the default account outside requests)."""
    return getattr(_CURRENT, "account", DEFAULT_ACCOUNT_ID)


def set_account(account_id):
    _CURRENT.account = account_id

CONFIG = {
    # Seconds a provisioned concurrency config stays IN_PROGRESS before READY.
    "pc_ready_delay": 0.3,
    # Seconds a new function stays State Pending after CreateFunction (writes get 409 meanwhile).
    "create_pending_seconds": 0.1,
    # Seconds LastUpdateStatus stays InProgress after UpdateFunctionConfiguration.
    "update_in_progress_seconds": 0.5,
    # "function:qualifier" -> StatusReason: provisioned concurrency goes FAILED.
    "fail_pc": {},
    # The next `count` AWS requests (of `operation` and signed with access key `key` only, when
    # set) fail with `status`, error `code` and optional `message` (429 throttling, 500,
    # eventual-consistency errors...); with "after": true they are carried out first and their
    # answer lost; with "pass": true they go through untouched. A list: each spec in turn.
    "fail_next": {"count": 0, "status": 429, "code": "TooManyRequestsException"},
    # Random faults per service (credential-scope name: lambda, application-autoscaling, ssm,
    # sns): {"throttle": rate, "error500": rate, "reset": rate, "conflict": rate (Lambda writes),
    # "latency_ms": ms, "latency_rate": rate}. Drawn from a generator seeded with "seed".
    "faults": {},
    # The seed of the fault generator (random at start, printed on the ready line; setting it
    # through /_ext/config reseeds the generator).
    "seed": 0,
    # Function name -> how an Invoke of it answers (the emulator runs no code): {"result":
    # "success" | "error" (FunctionError Unhandled) | "failed" (status Failed in the payload),
    # "delay_s": seconds before answering}. Functions not listed answer {"status": "Succeeded"}.
    "invoke": {},
    # function name -> {"ErrorCode", "Message"[, "StateReasonCode"]}: its environment cannot be
    # read (Environment.Error instead of Variables), as with a KMS key Lambda may not use.
    "environment_error": {},
    # Every AWS request has its connection reset (the endpoint is down).
    "down": False,
    # Requests signed for these regions have their connection reset (one region's endpoint is down).
    "down_regions": [],
    # function name -> {"code", "reason"}: its configuration updates end LastUpdateStatus Failed.
    "update_fails": {},
}

STATE = {
    "pc": {},  # (region, function, qualifier) -> dict
    "eic": {},  # (region, function, qualifier) -> dict
    "updating": {},  # (region, function) -> deadline
    "revisions": {},  # (region, function, qualifier) -> RevisionId
    "update_failed": {},  # function -> {"code", "reason"}: its last update is Failed
    "requests": [],
    "invocations": [],  # {"function", "payload"} of each Invoke, in order
}


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


def access_key_of(environ):
    auth = environ.get("HTTP_AUTHORIZATION", "")
    m = re.search(r"Credential=([^/]+)/", auth)
    return m.group(1) if m else ""


def _json_default(o):
    """Dates as AWS's JSON protocols send them: epoch seconds."""
    if isinstance(o, datetime):
        return o.timestamp()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def respond(start_response, status, body, code=None):
    reasons = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request",
               403: "Forbidden", 404: "Not Found", 409: "Conflict", 412: "Precondition Failed",
               429: "Too Many Requests",
               500: "Internal Server Error"}
    data = b"" if body is None else json.dumps(body, default=_json_default).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    if code:
        headers.append(("x-amzn-ErrorType", code))
    start_response(f"{status} {reasons.get(status, 'Error')}", headers)
    return [data]


def error(start_response, e, json_protocol=False):
    if json_protocol:  # JSON protocol services (X-Amz-Target) carry the code in __type
        return respond(start_response, e.status, {"__type": e.code, "message": e.message}, e.code)
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
