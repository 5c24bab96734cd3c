"""Injected faults: random per service (reproducible from CONFIG["seed"]), the next-N switch and
the endpoint-down switch."""

import random
import socket
import struct
import time

from common import CONFIG, LOCK, respond

THROTTLE_CODES = {"lambda": "TooManyRequestsException", "ssm": "ThrottlingException",
                  "application-autoscaling": "ThrottlingException", "sns": "Throttling",
                  "monitoring": "Throttling", "dynamodb": "ProvisionedThroughputExceededException"}
# DynamoDB answers throttling with 400 (API reference, Common Errors: "ThrottlingException ... 400";
# ProvisionedThroughputExceededException, 400).
THROTTLE_STATUS = {"dynamodb": 400}

RNG = random.Random()


def reseed(seed):
    CONFIG["seed"] = int(seed)
    RNG.seed(CONFIG["seed"])


def draw(service, method, action_of, region=None, key=None):
    """The fault for one request: {status, code[, message][, after]}, {reset[, after]}, or None;
    sleeps for latency. `conflict` applies to Lambda writes (409 as while an update is in
    progress). `fail_next` may name an `operation` (IAM action, e.g.
    application-autoscaling:PutScalingPolicy): then only that operation's requests fail, as AWS's
    eventual-consistency errors hit one call; and a `key`: then only the requests signed with that
    access key (one replica's). A list of such specs is consumed each in turn; a spec with `pass`
    lets its `count` requests through untouched (a normal answer between faults). With `after`,
    the request is carried out and its answer lost: the fault is answered instead (see
    server.lose_answer). `action_of()` names the request's operation (computed only when a spec
    asks: it is the costly part of a request's bookkeeping)."""
    if CONFIG.get("down") or region in (CONFIG.get("down_regions") or []):
        return {"reset": True}
    with LOCK:
        specs = CONFIG["fail_next"] if isinstance(CONFIG["fail_next"], list) else [CONFIG["fail_next"]]
        for fault in specs:
            if (fault.get("count", 0) > 0 and fault.get("key") in (None, key)
                    and fault.get("operation") in (None, action_of() if fault.get("operation") else None)):
                fault["count"] -= 1
                return None if fault.get("pass") else dict(fault)
        f = CONFIG["faults"].get(service) or {}
        spike = bool(f.get("latency_ms")) and RNG.random() < float(f.get("latency_rate", 1.0))
        r = RNG.random() if f else 1.0
    if spike:
        time.sleep(float(f["latency_ms"]) / 1000)
    for kind in ("throttle", "error500", "reset", "conflict"):
        rate = float(f.get(kind, 0))
        if kind == "conflict" and not (service == "lambda" and method != "GET"):
            continue
        if r < rate:
            if kind == "throttle":
                return {"status": THROTTLE_STATUS.get(service, 429), "code": THROTTLE_CODES.get(service, "ThrottlingException")}
            if kind == "error500":
                return {"status": 500, "code": "ServiceException" if service == "lambda" else "InternalServerError"}
            if kind == "reset":
                return {"reset": True}
            return {"status": 409, "code": "ResourceConflictException"}
        r -= rate
    return None


def respond_fault(environ, start_response, fault):
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
    message = fault.get("message", "injected fault")
    if environ.get("HTTP_X_AMZ_TARGET"):  # JSON protocol services carry the code in __type
        body = {"__type": code, "message": message}
    else:
        body = {"Type": "Service" if status >= 500 else "User", "message": message}
    return respond(start_response, status, body, code)
