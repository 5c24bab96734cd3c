"""CreateFunction and DeleteFunction: what moto 5.2.5 lacks. moto answers State Active at once and
reads the latest S3 object whatever S3ObjectVersion says; here a new function is Pending for
CONFIG["create_pending_seconds"] (writes meanwhile get AWS's 409), its code is read from the named
object version, a zip needs Runtime and Handler, the caller needs iam:PassRole for the role, and
DeleteFunction takes the extension's state for the function with it."""

import json
import time

import code_ext
import iam
import settings_ext
from common import CONFIG, STATE, ApiError, call_inner, finish


def pending(region, name):
    """Pending for CONFIG["create_pending_seconds"] after the creation (read now, so a test can end
    the window)."""
    created = STATE.setdefault("pending", {}).get((region, name))
    return created is not None and time.monotonic() < created + CONFIG["create_pending_seconds"]


def check_writable(region, name):
    """AWS (function states): "While the state is Pending ... you can't invoke or modify the
    function" - observed: "ResourceConflictException: The operation cannot be performed at this
    time. The function is currently in the following state: Pending"."""
    if pending(region, name):
        raise ApiError(409, "ResourceConflictException",
                       "The operation cannot be performed at this time. The function is currently in the following "
                       "state: Pending")


def create(inner, environ, start_response, region, body, backend):
    code = body.get("Code") or {}
    # AWS (observed, boto/boto3#2705): "Runtime and Handler are mandatory parameters for functions
    # created with deployment packages."
    if (body.get("PackageType") or "Zip") == "Zip" and not (body.get("Runtime") and body.get("Handler")):
        raise ApiError(400, "InvalidParameterValueException",
                       "Runtime and Handler are mandatory parameters for functions created with deployment packages.")
    iam.check_pass_role(environ, body.get("Role") or "")
    settings_ext.check(body)
    csc = body.get("CodeSigningConfigArn")
    if csc and csc not in CONFIG.get("code_signing_configs", []):
        # AWS (CreateFunction errors): CodeSigningConfigNotFoundException.
        raise ApiError(404, "CodeSigningConfigNotFoundException",
                       f"The specified code signing configuration does not exist: {csc[:200]}")
    key = code_ext.resolve(environ, region, code)
    # An image must exist in ECR (its digest is then the CodeSha256), as UpdateFunctionCode's.
    img = code_ext.image(environ, code["ImageUri"]) if code.get("ImageUri") else None
    status, headers, out = call_inner(inner, environ)
    if not status.startswith("201"):
        return finish(start_response, status, headers, out)
    name = body["FunctionName"].rsplit(":", 1)[-1]
    fn = backend(region).get_function(name)
    try:
        # The definition's refusals (runtime, handler, role, VPC, file systems, SnapStart, image
        # config), as for an update: checked on the new function, which is removed if refused.
        settings_ext.check_definition(environ, fn, body)
    except ApiError:
        backend(region).delete_function(name)
        raise
    settings_ext.store(fn, body)
    if key is not None or img is not None or body.get("Architectures"):
        out = code_ext.store(fn, key, {**code, "Architectures": body.get("Architectures")}, out, img)
    STATE.setdefault("pending", {})[(region, name)] = time.monotonic()
    if csc:
        STATE.setdefault("signing", {})[(region, name)] = csc
    doc = json.loads(out)
    # AWS (CreateFunction): "the function's State is Pending" until its resources are ready.
    doc["State"], doc["StateReasonCode"] = "Pending", "Creating"
    return finish(start_response, status, headers, json.dumps(doc).encode())


def patch_state(out, region, name):
    """GetFunction / GetFunctionConfiguration of a function still Pending."""
    if not pending(region, name):
        return out
    doc = json.loads(out)
    conf = doc.get("Configuration", doc)
    conf["State"], conf["StateReasonCode"], conf["StateReason"] = "Pending", "Creating", "The function is being created."
    return json.dumps(doc).encode()


def forget(region, name):
    """AWS (DeleteFunction): "deletes the function and all its versions" - and what hangs on them:
    provisioned concurrency, event invoke configs, the resource policy, the update windows."""
    for store in ("pc", "eic", "policy", "recursion", "runtime", "signing"):
        for k in [k for k in STATE.get(store, {}) if k[0] == region and k[1] == name]:
            STATE[store].pop(k, None)
    for store in ("revisions",):
        for k in [k for k in STATE.get(store, {}) if k[0] == region and k[1] == name]:
            STATE[store].pop(k, None)
    STATE["updating"].pop((region, name), None)
    STATE.setdefault("pending", {}).pop((region, name), None)
