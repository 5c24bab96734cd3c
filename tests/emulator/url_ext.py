"""Lambda function URLs, served here entirely: moto 5.2.5 ignores the Qualifier (one URL per
function), answers GetFunctionUrlConfig with 201, drops InvokeMode on update, silently replaces
an existing URL on create and checks no CORS limit. Configs are keyed by (region, function,
qualifier) with AWS's refusals; DeleteAlias drops the alias's URL (`drop`)."""

import re
import secrets
import time
from urllib.parse import parse_qs

import lambda_ext
from common import STATE, ApiError, now_iso

FN = r"(?P<fn>[^/]+)"
ROUTES = [
    ("url", re.compile(rf"^/2021-10-31/functions/{FN}/url/?$")),
    ("urls", re.compile(rf"^/2021-10-31/functions/{FN}/urls/?$")),
]
# FunctionUrlQualifier: "min": 1, "max": 128, "pattern": "((?!^\d+$)^[0-9a-zA-Z-_]+$)" (an alias
# name: no version number, no $LATEST).
QUALIFIER = re.compile(r"^(?!\d+$)[0-9a-zA-Z-_]{1,128}$")
AUTH_TYPES = ("NONE", "AWS_IAM")  # FunctionUrlAuthType enum
INVOKE_MODES = ("BUFFERED", "RESPONSE_STREAM")  # InvokeMode enum
# Cors members, from the API model: (member, list max, item min, item max). AllowHeaders and
# ExposeHeaders: HeadersList "max": 100 of Header "max": 1024; AllowMethods: AllowMethodsList
# "max": 6 of Method "max": 6; AllowOrigins: AllowOriginsList "max": 100 of Origin "min": 1,
# "max": 253.
CORS_LISTS = (("AllowHeaders", 100, 0, 1024), ("AllowMethods", 6, 0, 6), ("AllowOrigins", 100, 1, 253),
              ("ExposeHeaders", 100, 0, 1024))
MAX_AGE = (0, 86400)  # MaxAge: "min": 0, "max": 86400
PAGE = 50  # ListFunctionUrlConfigs: "returns a maximum of 50 items in each response"


def invalid(message):
    return ApiError(400, "ValidationException", f"1 validation error detected: {message}")


def store():
    return STATE.setdefault("url", {})


def check_qualifier(region, name, qualifier):
    """The qualifier's pattern, then (AWS's ResourceNotFoundException: "The resource specified in
    the request does not exist") the alias must exist."""
    if qualifier is not None and not QUALIFIER.match(qualifier):
        raise invalid(f"Value '{qualifier[:64]}' at 'qualifier' failed to satisfy constraint: Member must "
                      r"satisfy regular expression pattern: ((?!^\d+$)^[0-9a-zA-Z-_]+$)")
    fn, _ = lambda_ext.check_qualifier(region, name, qualifier, allow_latest=True)
    return fn


def check_body(body, creating):
    auth = body.get("AuthType")
    if creating and auth is None:
        raise invalid("Value null at 'authType' failed to satisfy constraint: Member must not be null")
    if auth is not None and auth not in AUTH_TYPES:
        raise invalid(f"Value '{auth}' at 'authType' failed to satisfy constraint: Member must satisfy enum "
                      "value set: [AWS_IAM, NONE]")
    mode = body.get("InvokeMode")
    if mode is not None and mode not in INVOKE_MODES:
        raise invalid(f"Value '{mode}' at 'invokeMode' failed to satisfy constraint: Member must satisfy enum "
                      "value set: [BUFFERED, RESPONSE_STREAM]")
    cors = body.get("Cors") or {}
    for member, most, lo, hi in CORS_LISTS:
        items = cors.get(member) or []
        field = f"cors.{member[0].lower()}{member[1:]}"
        if len(items) > most:
            raise invalid(f"Value at '{field}' failed to satisfy constraint: Member must have length less than "
                          f"or equal to {most}")
        if any(not lo <= len(i) <= hi for i in items):
            raise invalid(f"Value at '{field}' failed to satisfy constraint: Member must satisfy constraint: "
                          f"[Member must have length less than or equal to {hi}, Member must have length greater "
                          f"than or equal to {lo}]")
    age = cors.get("MaxAge")
    if age is not None and not MAX_AGE[0] <= int(age) <= MAX_AGE[1]:
        raise invalid(f"Value '{age}' at 'cors.maxAge' failed to satisfy constraint: Member must have value "
                      f"less than or equal to {MAX_AGE[1]}")


def view(fn, qualifier, cfg):
    out = {"FunctionUrl": cfg["FunctionUrl"], "FunctionArn": fn.function_arn + (f":{qualifier}" if qualifier else ""),
           "AuthType": cfg["AuthType"], "InvokeMode": cfg["InvokeMode"], "CreationTime": cfg["CreationTime"],
           "LastModifiedTime": cfg["LastModifiedTime"]}
    if cfg.get("Cors"):
        out["Cors"] = cfg["Cors"]
    return out


def listing(region, name, query):
    fn = lambda_ext.get_function(region, name)
    items = [view(fn, k[2], c) for k, c in sorted(store().items()) if k[:2] == (region, name)]
    marker, size = (query.get("Marker") or ["0"])[0] or "0", (query.get("MaxItems") or [str(PAGE)])[0]
    if not marker.isdigit() or not size.isdigit() or int(size) < 1:
        raise invalid("Value at 'marker' or 'maxItems' failed to satisfy constraint")
    start, size = int(marker), min(int(size), PAGE)
    page = items[start:start + size]
    out = {"FunctionUrlConfigs": page}
    if start + size < len(items):
        out["NextMarker"] = str(start + size)
    return 200, out


def handle(name, m, environ, method, region, body):
    """Serves a matched URL route (under LOCK)."""
    query = parse_qs(environ.get("QUERY_STRING", ""))
    fn_name = lambda_ext.function_name(m["fn"])
    if name == "urls":
        return listing(region, fn_name, query)
    qualifier = (query.get("Qualifier") or [None])[0]
    fn = check_qualifier(region, fn_name, qualifier)
    key = (region, fn_name, qualifier or "")
    cfg = store().get(key)
    missing = ApiError(404, "ResourceNotFoundException", "The resource you requested does not exist.")
    if method == "GET":
        if not cfg:
            raise missing
        return 200, view(fn, qualifier, cfg)
    # Every URL write declares ResourceConflictException: refused while an update is in progress.
    if STATE["updating"].get((region, fn_name), 0) > time.monotonic():
        raise ApiError(409, "ResourceConflictException", "The operation cannot be performed at this time. An update "
                       f"is in progress for resource: {fn.function_arn}")
    if method == "DELETE":
        if not cfg:
            raise missing
        del store()[key]
        return 204, None
    check_body(body, creating=method == "POST")
    if method == "POST":
        if cfg:
            # AWS (observed): "Failed to create function url config for [functionArn = ...]. Error
            # message:  FunctionUrlConfig exists for this Lambda function" (409).
            arn = fn.function_arn + (f":{qualifier}" if qualifier else "")
            raise ApiError(409, "ResourceConflictException", f"Failed to create function url config for [functionArn = "
                           f"{arn}]. Error message:  FunctionUrlConfig exists for this Lambda function")
        url = f"https://{secrets.token_hex(16)}.lambda-url.{region}.on.aws/"
        cfg = {"FunctionUrl": url, "CreationTime": now_iso(), "InvokeMode": "BUFFERED"}
    elif not cfg:
        raise missing
    for k in ("AuthType", "InvokeMode", "Cors"):
        if k in body:
            cfg[k] = body[k]
    cfg["LastModifiedTime"] = now_iso()
    store()[key] = cfg
    return (201 if method == "POST" else 200), view(fn, qualifier, cfg)


def drop(region, name, qualifier):
    """An alias deleted takes its URL with it."""
    store().pop((region, name, qualifier), None)
