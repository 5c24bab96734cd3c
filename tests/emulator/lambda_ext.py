"""Lambda: what moto lacks or mishandles. Provisioned concurrency configs, event invoke configs
keyed by qualifier, GetAccountSettings, an InProgress window after configuration updates (409 for
another update meanwhile), reserved concurrency in GetFunction, and DeleteAlias removing the
alias's configs."""

import json
import re
import time
import uuid
from urllib.parse import parse_qs, unquote

from moto.awslambda.models import lambda_backends

import code_ext
import create_ext
import configs_ext
import esm_ext
import iam
import kms_ext
import policy_ext
import settings_ext
import url_ext
from common import account, CONFIG, LOCK, STATE, ApiError, call_inner, finish, now_iso, respond

FN = r"(?P<fn>[^/]+)"
ROUTES = [
    ("pc", re.compile(rf"^/2019-09-30/functions/{FN}/provisioned-concurrency/?$")),
    ("eic_list", re.compile(rf"^/2019-09-25/functions/{FN}/event-invoke-config/list/?$")),
    ("eic", re.compile(rf"^/2019-09-25/functions/{FN}/event-invoke-config/?$")),
    ("account", re.compile(r"^/2016-08-19/account-settings/?$")),
    ("config", re.compile(rf"^/2015-03-31/functions/{FN}/configuration/?$")),
    ("code", re.compile(rf"^/2015-03-31/functions/{FN}/code/?$")),
    ("function", re.compile(rf"^/2015-03-31/functions/{FN}/?$")),
    ("functions", re.compile(r"^/2015-03-31/functions/?$")),
    ("alias", re.compile(rf"^/2015-03-31/functions/{FN}/aliases/(?P<alias>[^/]+)/?$")),
    ("invoke", re.compile(rf"^/2015-03-31/functions/{FN}/invocations/?$")),
    ("tags", re.compile(r"^/2017-03-31/tags/(?P<fn>.+)$")),
    ("aliases", re.compile(rf"^/2015-03-31/functions/{FN}/aliases/?$")),
    ("versions", re.compile(rf"^/2015-03-31/functions/{FN}/versions/?$")),
    ("policy", re.compile(rf"^/2015-03-31/functions/{FN}/policy/?$")),
    ("esm_list", re.compile(r"^/2015-03-31/event-source-mappings/?$")),
    ("esm", re.compile(r"^/2015-03-31/event-source-mappings/(?P<uuid>[^/]+)/?$")),
    ("policy_sid", re.compile(rf"^/2015-03-31/functions/{FN}/policy/(?P<sid>[^/]+)/?$")),
]


def backend(region):
    return lambda_backends[account()][region]


def function_name(raw):
    name = unquote(raw)
    if name.startswith("arn:"):
        name = name.split(":")[6]
    return name


def get_function(region, name):
    try:
        return backend(region).get_function(name)
    except Exception:
        arn = f"arn:aws:lambda:{region}:{account()}:function:{name}"
        raise ApiError(404, "ResourceNotFoundException", f"Function not found: {arn}")


def check_qualifier(region, name, qualifier, allow_latest):
    """AWS (AddPermission, CreateEventSourceMapping, Put*Config, ResourceNotFoundException): "The
    resource specified in the request does not exist": a version or alias qualifier must exist."""
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
    check_destinations(body.get("DestinationConfig") or {})
    if method == "PUT":
        cfg = {k: body[k] for k in EIC_FIELDS if k in body}
    else:  # POST: Update merges
        if not cfg:
            raise missing
        cfg = {**cfg, **{k: body[k] for k in EIC_FIELDS if k in body}}
    cfg["LastModified"] = time.time()
    STATE["eic"][key] = cfg
    return 200, eic_view(region, key, cfg)


# AWS (OnSuccess.Destination): "The Amazon Resource Name (ARN) of the destination resource." with
# SQS, SNS, Lambda and EventBridge destinations; OnFailure also takes an Amazon S3 bucket
# ("S3 bucket destinations are only supported for on-failure").
DESTINATION_SERVICES = {"OnSuccess": ("sqs", "sns", "lambda", "events"),
                        "OnFailure": ("sqs", "sns", "lambda", "events", "s3")}


def check_destinations(dest):
    for kind, services in DESTINATION_SERVICES.items():
        arn = (dest.get(kind) or {}).get("Destination")
        if arn is None:
            continue
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn" or parts[2] not in services:
            raise ApiError(400, "InvalidParameterValueException",
                           f"The provided destination config DestinationConfig.{kind}.Destination is invalid: "
                           f"{parts[2] if len(parts) > 2 else arn} is not a supported destination type for {kind}.")


def check_routing(version, routing):
    """AWS refuses weighted routing on an alias of $LATEST, and $LATEST as a weighted version."""
    weights = (routing or {}).get("AdditionalVersionWeights") or {}
    if "$LATEST" in weights:
        raise ApiError(400, "InvalidParameterValueException",
                       "$LATEST is not supported for an alias pointing to more than 1 version")
    if weights and version == "$LATEST":
        raise ApiError(400, "InvalidParameterValueException",
                       "$LATEST is not supported for an alias pointing to more than 1 version")


def check_weighted_versions(region, name, version, routing):
    """AWS (Lambda Developer Guide, configuring-alias-routing): "You can point an alias to a
    maximum of two Lambda function versions. The versions must meet the following criteria: Both
    versions must have the same execution role. Both versions must have the same dead-letter queue
    configuration, or no dead-letter queue configuration." AWS answers the role clash with
    InvalidParameterValueException "Specified versions must be associated with the same execution
    role" (as UpdateAlias reports it); the dead-letter message's wording is ours (no reference
    quotes it)."""
    weights = (routing or {}).get("AdditionalVersionWeights") or {}
    if not weights or version in (None, "$LATEST"):
        return

    def traits(v):
        try:
            fn = backend(region).get_function(name, v)
        except Exception:
            return None  # a missing version is moto's to answer
        return fn.role, getattr(fn, "ext_dead_letter", None) or None

    primary = traits(version)
    for other in map(traits, weights):
        if primary is None or other is None:
            continue
        if primary[0] != other[0]:
            raise ApiError(400, "InvalidParameterValueException",
                           "Specified versions must be associated with the same execution role")
        if primary[1] != other[1]:
            raise ApiError(400, "InvalidParameterValueException",
                           "Specified versions must be associated with the same dead letter queue configuration")


def check_environment(body):
    """AWS measures the environment as JSON: "Lambda was unable to configure your environment
    variables because the environment variables you have provided exceeded the 4KB limit. String
    measured: {...}" (the values echoed JSON-escaped)."""
    variables = (body.get("Environment") or {}).get("Variables")
    if variables is None:
        return
    measured = json.dumps(variables, separators=(",", ":"), ensure_ascii=False)
    if len(measured.encode()) > 4096:
        raise ApiError(400, "InvalidParameterValueException",
                       "Lambda was unable to configure your environment variables because the environment variables "
                       f"you have provided exceeded the 4KB limit. String measured: {measured}")


def handle_account(region):
    reserved = sum(int(f.reserved_concurrency or 0) for f in backend(region).list_functions())
    return 200, {
        "AccountLimit": {"TotalCodeSize": 80530636800, "CodeSizeUnzipped": 262144000, "CodeSizeZipped": 52428800,
                         "ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": 1000 - reserved},
        "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": len(list(backend(region).list_functions()))},
    }


def invoke(environ, start_response, region, name, raw):
    """Invoke, answered as CONFIG["invoke"] scripts it (called without LOCK: a scripted delay must
    not stall other requests). AWS (Invoke): "If there is an error in the function, the response
    contains details about the error ... X-Amz-Function-Error"; the status code is still 200."""
    with LOCK:
        get_function(region, function_name(name))
        script = dict((CONFIG.get("invoke") or {}).get(function_name(name)) or {})
        STATE["invocations"].append({"function": function_name(name), "payload": json.loads(raw or b"null")})
    if script.get("delay_s"):
        time.sleep(float(script["delay_s"]))
    result = script.get("result", "success")
    headers = [("X-Amz-Executed-Version", "$LATEST")]
    if result == "error":
        body = {"errorMessage": script.get("message", "hook threw"), "errorType": "Error"}
        headers.append(("X-Amz-Function-Error", "Unhandled"))
    elif result == "failed":
        body = {"status": "Failed", "message": script.get("message", "validation failed")}
    else:
        body = {"status": "Succeeded"}
    data = json.dumps(body).encode()
    start_response("200 OK", headers + [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def check_alias_revision(alias, body):
    """AWS (UpdateAlias, RevisionId): "Only update the alias if the revision ID matches the ID
    that's specified. Use this option to avoid modifying an alias that has changed since you last
    read it." A mismatch is 412 PreconditionFailedException ("The RevisionId provided does not
    match the latest RevisionId for the Lambda function or alias"). moto ignores the field."""
    want = body.get("RevisionId")
    if want is not None and want != alias.revision_id:
        raise ApiError(412, "PreconditionFailedException",
                       "The Revision Id provided does not match the latest Revision Id. "
                       "Call the GetFunction/GetAlias API to retrieve the latest Revision Id")


def update_alias(inner, environ, start_response, alias):
    """UpdateAlias by moto, then a new RevisionId: AWS (AliasConfiguration, RevisionId): "A unique
    identifier that changes when you update the alias." moto keeps the one it made at creation."""
    status, headers, out = call_inner(inner, environ)
    if status.startswith("2"):
        alias.revision_id = str(uuid.uuid4())
        doc = json.loads(out)
        doc["RevisionId"] = alias.revision_id
        out = json.dumps(doc).encode()
    return finish(start_response, status, headers, out)


def shift_provisioned(region, name, alias, routing):
    """AWS shares an alias's provisioned concurrency between the versions it routes to: when the
    routing changes, the allocation is rebuilt (IN_PROGRESS, allocated dips) and settles later."""
    cfg = STATE["pc"].get((region, name, alias))
    if not cfg:
        return
    weight = sum(((routing or {}).get("AdditionalVersionWeights") or {}).values())
    cfg.update(Status="IN_PROGRESS", allocated=int(cfg["requested"] * (1 - weight)),
               ready_at=time.monotonic() + CONFIG["pc_ready_delay"])


def check_tags(tags):
    """TagResource: tag keys 1-128 and values 0-256 characters of "Unicode letters, digits, white
    space, and any of these symbols: _ . : / = + - @" (Tagging AWS resources, tag restrictions)."""
    def ok(text):
        return all(c.isalnum() or c.isspace() or c in "_.:/=+-@" for c in text)
    for k, v in (tags or {}).items():
        if not (1 <= len(k) <= 128 and len(v) <= 256 and ok(k) and ok(v)):
            raise ApiError(400, "InvalidParameterValueException", f"Tag {k!r} is not a valid tag key or value")


def revision(region, name, qualifier=None):
    """AWS (FunctionConfiguration.RevisionId): "The latest updated revision of the function or
    alias." moto keeps none for functions: $LATEST's changes on every code or configuration
    update and on every version published (bump_revision); a published version's is fixed when
    it is published."""
    key = (region, name, qualifier if qualifier not in (None, "$LATEST") else "$LATEST")
    return STATE["revisions"].setdefault(key, str(uuid.uuid4()))


def bump_revision(region, name):
    STATE["revisions"][(region, name, "$LATEST")] = str(uuid.uuid4())


def with_revision(out, rev):
    doc = json.loads(out)
    doc.get("Configuration", doc)["RevisionId"] = rev
    return json.dumps(doc).encode()


def publish(inner, environ, start_response, region, name, body, busy):
    """PublishVersion with AWS's guards (PublishVersionRequest): RevisionId "Only update the
    function if the revision ID matches the ID that's specified" (412 PreconditionFailedException
    otherwise), CodeSha256 "Only publish a version if the hash value matches the value that's
    specified"; like every update, refused with 409 while an update is in progress."""
    fn = get_function(region, name)
    if busy:
        raise ApiError(409, "ResourceConflictException",
                       f"The operation cannot be performed at this time. An update is in progress for resource: {fn.function_arn}")
    want = body.get("RevisionId")
    if want is not None and want != revision(region, name):
        raise ApiError(412, "PreconditionFailedException",
                       "The Revision Id provided does not match the latest Revision Id. "
                       "Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
    sha = body.get("CodeSha256")
    if sha is not None and sha != fn.code_sha_256:
        raise ApiError(400, "InvalidParameterValueException",
                       f"CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST ({fn.code_sha_256}). "
                       "Please try again with the CodeSHA256 in $LATEST.")
    before = {str(v.version) for v in backend(region).list_versions_by_function(name)}
    status, headers, out = call_inner(inner, environ)
    if status.startswith("2"):
        version = json.loads(out)["Version"]
        if version not in before:
            # AWS changes $LATEST's RevisionId when it publishes a version (LocalStack's test
            # test_function_revisions_version_and_alias, validated against AWS: "publish_version
            # changes the revision id of $LATEST"); "AWS Lambda doesn't publish a version if the
            # function's configuration and code haven't changed since the last version"
            # (PublishVersion): answering the existing version changes nothing.
            bump_revision(region, name)
            configs_ext.on_publish(region, name, version)
        out = settings_ext.patch(out, backend(region).get_function(name, version), False)
        out = with_revision(out, revision(region, name, version))
    return finish(start_response, status, headers, out)


def esm_function_arn(region, raw):
    """The function (and qualifier) a mapping's FunctionName names, as its ARN; the function and
    a qualifying alias or version must exist."""
    raw = unquote(raw)
    if raw.startswith("arn:"):
        parts = raw.split(":")
        name, qualifier = parts[6], (parts[7] if len(parts) > 7 else None)
    else:
        name, _, qualifier = raw.partition(":")
    fn, _ = check_qualifier(region, name, qualifier or None, allow_latest=True)
    return fn.function_arn + (f":{qualifier}" if qualifier and qualifier != "$LATEST" else "")


def route(inner, name, m, environ, start_response, method, region, raw):
    """Serves a matched Lambda path (under LOCK)."""
    query = parse_qs(environ.get("QUERY_STRING", ""))
    body = json.loads(raw) if raw else {}
    if name == "tags":
        if method == "POST":
            check_tags(body.get("Tags"))
            configs_ext.check_tag_resource(region, m["fn"], body.get("Tags"))
        if method == "DELETE":
            configs_ext.check_untag(query)
        return inner(environ, start_response)
    if name == "functions":
        if method == "POST":
            check_tags(body.get("Tags"))
            return create_ext.create(inner, environ, start_response, region, body, backend)
        return inner(environ, start_response)
    if name == "pc":
        return respond(start_response, *handle_pc(method, region, m["fn"], query, body))
    if name in ("eic", "eic_list"):
        return respond(start_response, *handle_eic(method, region, m["fn"], query, body, name == "eic_list"))
    if name == "account":
        return respond(start_response, *handle_account(region))
    if name == "esm_list":
        if method == "POST":
            return respond(start_response, *esm_ext.create(esm_function_arn(region, body.get("FunctionName") or ""), body, region))
        raw_fn = (query.get("FunctionName") or [None])[0]
        source = (query.get("EventSourceArn") or [None])[0]
        fn_arn = esm_function_arn(region, raw_fn) if raw_fn else None
        max_items = int((query.get("MaxItems") or ["100"])[0])
        return respond(start_response, *esm_ext.listing(fn_arn, source, (query.get("Marker") or [None])[0], max_items))
    if name == "esm":
        uid = unquote(m["uuid"])
        if method == "GET":
            return respond(start_response, 200, esm_ext.view(esm_ext.get(uid)))
        if method == "PUT":
            return respond(start_response, *esm_ext.update(uid, body))
        return respond(start_response, *esm_ext.delete(uid))
    if name in ("policy", "policy_sid"):
        qualifier = (query.get("Qualifier") or [None])[0]
        qualifier = None if qualifier in ("", "$LATEST") else qualifier
        fn, _ = check_qualifier(region, function_name(m["fn"]), qualifier, allow_latest=True)
        sid = unquote(m["sid"]) if name == "policy_sid" else None
        if name == "policy_sid" and query.get("RevisionId"):
            body = {"RevisionId": query["RevisionId"][0]}
        return respond(start_response, *policy_ext.handle(method, region, fn, qualifier, sid, body))
    fn_key = (region, function_name(m["fn"]))
    busy = STATE["updating"].get(fn_key, 0) > time.monotonic()
    if name == "aliases" and method == "POST":
        check_routing(body.get("FunctionVersion"), body.get("RoutingConfig"))
        check_weighted_versions(region, fn_key[1], body.get("FunctionVersion"), body.get("RoutingConfig"))
    if name == "alias" and method == "PUT":
        try:
            current = backend(region).get_alias(unquote(m["alias"]), fn_key[1])
        except Exception:
            current = None  # moto answers the missing alias
        if current is not None:
            check_alias_revision(current, body)
            version = body.get("FunctionVersion") or current.function_version
            routing = body["RoutingConfig"] if "RoutingConfig" in body else current.routing_config
            check_routing(version, routing)
            check_weighted_versions(region, fn_key[1], version, routing)
            if routing != current.routing_config or version != current.function_version:
                shift_provisioned(region, fn_key[1], unquote(m["alias"]), routing)
            return update_alias(inner, environ, start_response, current)
    if (name in ("config", "code") and method == "PUT") or (name == "versions" and method == "POST"):
        create_ext.check_writable(*fn_key)
    if name == "function" and method == "DELETE" and not query.get("Qualifier"):
        status, headers, out = call_inner(inner, environ)
        if status.startswith("204"):
            create_ext.forget(*fn_key)
        return finish(start_response, status, headers, out)
    if name == "versions" and method == "POST":
        return publish(inner, environ, start_response, region, fn_key[1], body, busy)
    if name == "config" and method == "PUT":
        check_environment(body)
        settings_ext.check(body)
        settings_ext.check_definition(environ, get_function(region, fn_key[1]), body)
        iam.check_layers(environ, body.get("Layers"))
        kms_ext.check_lambda_update(environ, region, get_function(region, fn_key[1]), body)
    code_key = code_image = None
    if name == "code" and method == "PUT":
        code_image = code_ext.check(environ, get_function(region, fn_key[1]), body, revision(*fn_key))
        code_key = code_ext.resolve(environ, region, body)
    if name in ("config", "code") and method == "PUT":
        if busy:
            fn = get_function(region, fn_key[1])
            raise ApiError(409, "ResourceConflictException",
                           f"The operation cannot be performed at this time. An update is in progress for resource: {fn.function_arn}")
        status, headers, out = call_inner(inner, environ)
        if status.startswith("200"):
            STATE["updating"][fn_key] = time.monotonic() + CONFIG["update_in_progress_seconds"]
            bump_revision(*fn_key)
            fn = get_function(region, fn_key[1])
            if name == "config":
                settings_ext.store(fn, body)
            if name == "code":
                out = code_ext.store(fn, code_key, body, out, code_image)
            out = with_revision(patch_status(settings_ext.patch(out, fn, False), True, None), revision(*fn_key))
        return finish(start_response, status, headers, out)
    if name in ("config", "function") and method == "GET":
        status, headers, out = call_inner(inner, environ)
        if status.startswith("200"):
            fn = backend(region).get_function(fn_key[1])
            out = patch_status(out, busy, fn.reserved_concurrency if name == "function" else None)
            out = create_ext.patch_state(out, *fn_key)
            out = environment_error(out, fn_key[1])
            qualifier = (query.get("Qualifier") or [None])[0]
            latest = qualifier in (None, "$LATEST")
            fn = backend(region).get_function(fn_key[1], None if latest else qualifier)
            out = kms_ext.lambda_read(environ, region, fn, settings_ext.patch(out, fn, latest))
            out = with_revision(out, revision(*fn_key, qualifier))
            if name == "function" and not iam.may_list_tags(environ):
                out = strip_tags(out)
        return finish(start_response, status, headers, out)
    if name == "alias" and method == "DELETE":
        status, headers, out = call_inner(inner, environ)
        for store in (STATE["pc"], STATE["eic"]):
            store.pop((region, fn_key[1], unquote(m["alias"])), None)
        policy_ext.drop(region, fn_key[1], unquote(m["alias"]))
        url_ext.drop(region, fn_key[1], unquote(m["alias"]))
        start_response(status, headers)
        return [out]
    return inner(environ, start_response)

def environment_error(out, function):
    """CONFIG["environment_error"][function] = {"ErrorCode", "Message"[, "StateReasonCode"]}: the
    function answers as when Lambda cannot decrypt its variables (EnvironmentResponse: "If it
    fails, the response contains details about the error") - Error, no Variables."""
    spec = (CONFIG.get("environment_error") or {}).get(function)
    if not spec:
        return out
    doc = json.loads(out)
    conf = doc.get("Configuration", doc)
    conf["Environment"] = {"Error": {"ErrorCode": spec["ErrorCode"], "Message": spec["Message"]}}
    if spec.get("StateReasonCode"):
        conf["StateReasonCode"], conf["StateReason"] = spec["StateReasonCode"], spec["Message"]
    return json.dumps(doc).encode()


def strip_tags(out):
    """AWS (GetFunction, Tags): "Lambda returns tag data only if you have explicit allow
    permissions for lambda:ListTags." TagsError: "An object that contains details about an error
    related to retrieving tags." (ErrorCode [A-Za-z]+Exception, Message of 84-1000 characters)."""
    doc = json.loads(out)
    doc.pop("Tags", None)
    doc["TagsError"] = {"ErrorCode": "AccessDeniedException",
                        "Message": "The caller is not authorized to perform lambda:ListTags on this function, so its tags "
                                   "were not returned."}
    return json.dumps(doc).encode()


def patch_status(out, busy, reserved):
    doc = json.loads(out)
    conf = doc.get("Configuration", doc)
    conf["LastUpdateStatus"] = "InProgress" if busy else "Successful"
    if busy:
        conf["LastUpdateStatusReasonCode"] = None
    if reserved is not None and "Concurrency" not in doc and "Configuration" in doc:
        doc["Concurrency"] = {"ReservedConcurrentExecutions": int(reserved)}
    return json.dumps(doc).encode()
