"""Recursive loop detection, runtime management and code signing: moto 5.2.5 has no route for
PutFunctionRecursionConfig, Get/PutRuntimeManagementConfig or Put/DeleteFunctionCodeSigningConfig
(its urls.py serves only GET code-signing-config, answering the ARN given at create). Served here
with state per function (runtime management per version: a version published takes $LATEST's),
the API's enums, AWS's rules, and 409 while an update is in progress, as for every write. Also
AWS's rules for tags that moto lets through: the `aws:` prefix and the 50-tag limit, and an admin
seed for tags AWS itself writes (`aws:cloudformation:*`)."""

import json
import re
import time
from urllib.parse import parse_qs, unquote

import lambda_ext
from common import CONFIG, STATE, ApiError, respond

FN = r"(?P<fn>[^/]+)"
ROUTES = [
    ("recursion", re.compile(rf"^/2024-08-31/functions/{FN}/recursion-config/?$")),
    ("runtime", re.compile(rf"^/2021-07-20/functions/{FN}/runtime-management-config/?$")),
    ("signing", re.compile(rf"^/2020-06-30/functions/{FN}/code-signing-config/?$")),
]

# Code signing configuration ARNs that exist (moto has no CreateCodeSigningConfig): tests list
# theirs through /_ext/config.
CONFIG.setdefault("code_signing_configs", [])
STATE.setdefault("recursion", {})  # (region, function) -> Allow | Terminate
STATE.setdefault("runtime", {})  # (region, function, "$LATEST" | version) -> {UpdateRuntimeOn, RuntimeVersionArn}
STATE.setdefault("signing", {})  # (region, function) -> code signing config ARN

# The API model's enums (RecursiveLoop, UpdateRuntimeOn).
RECURSIVE_LOOP = ["Allow", "Terminate"]
UPDATE_RUNTIME_ON = ["Auto", "Manual", "FunctionUpdate"]
# CodeSigningConfigArn's pattern (max 200).
CSC_ARN = re.compile(r"^arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:"
                     r"code-signing-config:csc-[a-z0-9]{17}$")
# RuntimeVersionArn's pattern (26-2048).
RUNTIME_ARN = re.compile(r"^arn:(aws[a-zA-Z-]*):lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}"
                         r"(::runtime:.+|:\d{12}:runtime/[A-Za-z0-9_.-]{1,128}/version/[A-Za-z0-9_.-]{1,128})$")
# AWS (tag restrictions): "Maximum number of tags per resource - 50".
MAX_TAGS = 50


def validation(value, member, constraint):
    """AWS's answer to a request member outside the model's constraints."""
    return ApiError(400, "ValidationException",
                    f"1 validation error detected: Value '{str(value)[:100]}' at '{member}' failed to satisfy "
                    f"constraint: {constraint}")


def check_enum(value, member, allowed):
    if value not in allowed:
        raise validation(value, member, f"Member must satisfy enum value set: [{', '.join(allowed)}]")


def check_idle(region, name, fn):
    """AWS (ResourceConflictException): "The operation cannot be performed at this time. An update
    is in progress for resource" - every Put/Delete of these configurations declares it."""
    if STATE["updating"].get((region, name), 0) > time.monotonic():
        raise ApiError(409, "ResourceConflictException",
                       f"The operation cannot be performed at this time. An update is in progress for resource: "
                       f"{fn.function_arn}")


def route(name, m, environ, start_response, method, region, raw):
    """Serves a matched path (under LOCK)."""
    query = parse_qs(environ.get("QUERY_STRING", ""))
    body = json.loads(raw) if raw else {}
    fn_name = lambda_ext.function_name(m["fn"])
    fn = lambda_ext.get_function(region, fn_name)
    if method in ("PUT", "DELETE"):
        check_idle(region, fn_name, fn)
    if name == "recursion":
        return respond(start_response, *recursion(method, region, fn_name, body))
    if name == "runtime":
        qualifier = (query.get("Qualifier") or ["$LATEST"])[0] or "$LATEST"
        return respond(start_response, *runtime(method, region, fn, qualifier, body))
    return respond(start_response, *signing(method, region, fn, body))


def recursion(method, region, name, body):
    """AWS (GetFunctionRecursionConfig): "By default, Lambda sets your function's configuration to
    Terminate." PutFunctionRecursionConfig: RecursiveLoop (required) is Allow or Terminate."""
    key = (region, name)
    if method == "PUT":
        check_enum(body.get("RecursiveLoop"), "recursiveLoop", RECURSIVE_LOOP)
        STATE["recursion"][key] = body["RecursiveLoop"]
    return 200, {"RecursiveLoop": STATE["recursion"].get(key, "Terminate")}


def runtime(method, region, fn, qualifier, body):
    """Get/PutRuntimeManagementConfig of $LATEST or a published version. AWS: RuntimeVersionArn
    "is only required if you're using the Manual runtime update mode" (and is returned in Manual
    mode only: "otherwise null is returned"); for container images: "To update runtime versions
    for container-based functions, you must create a new container image" (runtimes-update)."""
    name = fn.function_name
    if qualifier != "$LATEST":
        lambda_ext.check_qualifier(region, name, qualifier, allow_latest=True)
    key = (region, name, qualifier)
    if method == "PUT":
        mode, arn = body.get("UpdateRuntimeOn"), body.get("RuntimeVersionArn")
        check_enum(mode, "updateRuntimeOn", UPDATE_RUNTIME_ON)
        if arn is not None and not (26 <= len(arn) <= 2048 and RUNTIME_ARN.match(arn)):
            raise validation(arn, "runtimeVersionArn", "Member must satisfy regular expression pattern")
        if fn.package_type == "Image":
            # The wording is ours: AWS's exact refusal is not documented.
            raise ApiError(400, "InvalidParameterValueException",
                           "Runtime management configuration is not supported for functions with package type Image.")
        if mode == "Manual" and not arn:
            raise ApiError(400, "InvalidParameterValueException",
                           "RuntimeVersionArn is required when UpdateRuntimeOn is Manual.")
        if mode != "Manual" and arn:
            raise ApiError(400, "InvalidParameterValueException",
                           f"RuntimeVersionArn can only be set when UpdateRuntimeOn is Manual, not {mode}.")
        STATE["runtime"][key] = {"UpdateRuntimeOn": mode, "RuntimeVersionArn": arn if mode == "Manual" else None}
    cfg = STATE["runtime"].get(key) or {"UpdateRuntimeOn": "Auto", "RuntimeVersionArn": None}
    arn = fn.function_arn + (f":{qualifier}" if qualifier != "$LATEST" else "")
    return 200, {"FunctionArn": arn, **cfg}


def on_publish(region, name, version):
    """A version published carries $LATEST's runtime management configuration."""
    latest = STATE["runtime"].get((region, name, "$LATEST"))
    if latest is not None:
        STATE["runtime"][(region, name, str(version))] = dict(latest)


def signing(method, region, fn, body):
    """Put/Get/DeleteFunctionCodeSigningConfig. AWS: "You can use code signing if your deployment
    package is a .zip file archive"; an unknown configuration is CodeSigningConfigNotFoundException
    ("The specified code signing configuration does not exist")."""
    key = (region, fn.function_name)
    if method == "PUT":
        arn = body.get("CodeSigningConfigArn") or ""
        if len(arn) > 200 or not CSC_ARN.match(arn):
            raise validation(arn, "codeSigningConfigArn", "Member must satisfy regular expression pattern")
        if fn.package_type == "Image":
            raise ApiError(400, "InvalidParameterValueException",
                           "Code signing is not supported for functions with package type Image.")
        if arn not in CONFIG["code_signing_configs"]:
            raise ApiError(404, "CodeSigningConfigNotFoundException",
                           f"The specified code signing configuration does not exist: {arn}")
        STATE["signing"][key] = arn
    elif method == "DELETE":
        STATE["signing"].pop(key, None)
        return 204, None
    return 200, {"CodeSigningConfigArn": STATE["signing"].get(key, ""), "FunctionName": fn.function_name}


def is_aws(key):
    return key[:4].lower() == "aws:"


def check_tag_resource(region, raw_arn, tags):
    """TagResource. AWS (tag restrictions): "Don't use aws: … as a prefix for keys … You can't edit
    or delete tag keys or values with this prefix"; "Maximum number of tags per resource - 50"
    (tags with the aws: prefix "do not count against your tags per resource limit"). The wording
    of both refusals is ours (InvalidParameterValueException, as for the other tag rules)."""
    for k in tags or {}:
        if is_aws(k):
            raise ApiError(400, "InvalidParameterValueException",
                           f"Tag key {k[:128]!r} is invalid: the aws: prefix is reserved for AWS use.")
    fn = resource_function(region, raw_arn)
    if fn is None:
        return
    keys = {k for k in fn.tags if not is_aws(k)} | set(tags or {})
    if len(keys) > MAX_TAGS:
        raise ApiError(400, "InvalidParameterValueException",
                       f"Number of tags exceeds resource tag limit ({len(keys)} > {MAX_TAGS}).")


def check_untag(query):
    """UntagResource: keys with the aws: prefix cannot be deleted (see check_tag_resource)."""
    for k in query.get("tagKeys", []):
        if is_aws(k):
            raise ApiError(400, "InvalidParameterValueException",
                           f"Tag key {k[:128]!r} is invalid: the aws: prefix is reserved for AWS use.")


def resource_function(region, raw_arn):
    """The function a tag request names (None for other resources: moto answers those)."""
    arn = unquote(raw_arn)
    parts = arn.split(":")
    if len(parts) < 7 or parts[5] != "function":
        return None
    return lambda_ext.get_function(region, parts[6])


def seed_tags(region, name, tags):
    """Sets tags as AWS itself does (CloudFormation's aws:cloudformation:stack-name), past the
    refusals above."""
    lambda_ext.get_function(region, name).tags.update(tags)
