"""CloudTrail, as EventBridge sees it: after every successful mutating Lambda or Application Auto
Scaling call, a management event ("AWS API Call via CloudTrail") goes to the default event bus of
the caller's account and region, after CONFIG["cloudtrail_delay_s"] (AWS: "CloudTrail typically
delivers an event within an average of about 5 minutes of an API call" to trails; EventBridge gets
them in seconds to minutes). moto's EventBridge then routes it by the rules (prefix patterns
included) to their SQS targets. Every caller's calls are recorded, the controller's own included,
as on AWS: the controller must recognise its own by userIdentity.arn.

The record follows CloudTrail's shape: eventSource, eventName (Lambda's carry the API version:
UpdateAlias20150331, UpdateFunctionConfiguration20150331v2), userIdentity.arn, requestParameters
as the caller sent them (functionName is a name or an ARN, as in the path) with lowerCamelCase
keys, environment variables hidden, responseElements.functionArn for event source mappings.

Identities: a key that moto's STS issued (AssumeRole) is that assumed role; a key listed in
CONFIG["identities"] has that ARN ("service:NAME" makes it the AWS service NAME, as when Application
Auto Scaling changes provisioned concurrency); any other key is arn:aws:iam::ACCOUNT:user/KEY.
userIdentity has CloudTrail's shape for each type: IAMUser (principalId, arn, accountId,
accessKeyId, userName), AssumedRole (the same, and sessionContext.sessionIssuer naming the role),
AWSService (invokedBy only). STS
GetCallerIdentity answers the same ARN, so the controller learns what its events carry."""

import json
import re
import threading
import time
import uuid
from urllib.parse import parse_qs, unquote

from moto.events.models import events_backends
from moto.iam.models import get_account_id_from
from moto.sts.models import sts_backends

from moto.iam.models import iam_backends

import iam
from common import CONFIG, STATE, ApiError, access_key_of

CONFIG.setdefault("cloudtrail_delay_s", 0.0)
STATE.setdefault("cloudtrail", [])
CONFIG.setdefault("identities", {
    "AKIDTEST": "arn:aws:sts::123456789012:assumed-role/lambda-reconciler/controller",
    "AKIDADMIN": "arn:aws:iam::123456789012:user/admin",
})

# Lambda operations whose CloudTrail event name ends in "v2" after the API version.
V2 = {"UpdateFunctionConfiguration", "UpdateFunctionCode", "GetFunction", "TagResource", "UntagResource",
      "AddPermission", "RemovePermission", "GetFunctionConfiguration", "ListTags"}
# Data events (not management events): never in a management trail.
DATA = {"Invoke", "InvokeAsync", "InvokeWithResponseStream"}


def account_of(key):
    return get_account_id_from(key)


def identity_of(key):
    """(arn, type) of the principal that signed with `key`."""
    account = account_of(key)
    for backend in sts_backends.get(account, {}).values():
        role = backend.get_assumed_role_from_access_key(key)
        if role:
            return role.arn, "AssumedRole"
    if key in CONFIG["identities"]:
        arn = CONFIG["identities"][key]
        if arn.startswith("service:"):
            return arn, "AWSService"
        return arn, "AssumedRole" if ":assumed-role/" in arn else "IAMUser"
    return f"arn:aws:iam::{account}:user/{key}", "IAMUser"


def user_identity(key, account):
    """CloudTrail's userIdentity element for the principal that signed with `key`
    (CloudTrail userIdentity element reference: fields per identity type)."""
    arn, kind = identity_of(key)
    if kind == "AWSService":
        return {"type": "AWSService", "invokedBy": arn.split(":", 1)[1]}
    name = arn.rsplit("/", 1)[-1]
    out = {"type": kind, "principalId": f"AIDA{key[:12].upper()}", "arn": arn, "accountId": account,
           "accessKeyId": key}
    if kind == "IAMUser":
        out["userName"] = name
        return out
    # arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
    role = arn.split(":assumed-role/", 1)[-1].split("/")[0]
    out["principalId"] = f"AROA{key[:12].upper()}:{name}"
    out["sessionContext"] = {
        "sessionIssuer": {"type": "Role", "principalId": f"AROA{key[:12].upper()}",
                          "arn": f"arn:aws:iam::{account}:role/{role}", "accountId": account, "userName": role},
        "attributes": {"creationDate": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       "mfaAuthenticated": "false"},
    }
    return out


def caller_identity_override(environ, raw, status, headers, body):
    """STS GetCallerIdentity answers the ARN the events carry (moto says user/moto for any key
    it did not issue)."""
    key = access_key_of(environ)
    if key not in CONFIG["identities"] or b"GetCallerIdentity" not in raw:
        return body
    arn = CONFIG["identities"][key]
    return re.sub(rb"<Arn>[^<]*</Arn>", b"<Arn>" + arn.encode() + b"</Arn>", body)


def _camel(k):
    return k[:1].lower() + k[1:]


def _params(body):
    out = {}
    for k, v in (body or {}).items():
        if k == "Environment":
            out["environment"] = {"variables": "HIDDEN_DUE_TO_SECURITY_REASONS"}
        else:
            out[_camel(k)] = v
    return out


def _lambda_record(method, path, query, raw, response):
    """(eventName, requestParameters, responseElements) of a mutating Lambda call, or None."""
    for m, rx, keys, op in iam.LAMBDA_ROUTES:
        if m == method and rx.match(path) and all(k in query for k in keys):
            break
    else:
        return None
    if method == "GET" or op in DATA:
        return None
    version = path.strip("/").split("/")[0].replace("-", "")
    name = op + version + ("v2" if op in V2 else "")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        body = {}
    params = _params(body if isinstance(body, dict) else {})
    parts = path.strip("/").split("/")
    if len(parts) > 2 and parts[1] == "functions":
        params["functionName"] = unquote(parts[2])
    if len(parts) > 3 and parts[1] == "functions" and parts[3] == "aliases" and len(parts) > 4:
        params["name"] = unquote(parts[4])
    if parts[1:2] == ["tags"]:
        params["resource"] = unquote("/".join(parts[2:]))
    if parts[1:2] == ["event-source-mappings"] and len(parts) > 2:
        params["uUID"] = parts[2]
    for k, v in parse_qs(query).items():
        params[_camel(k)] = v[0]
    elements = None
    if parts[1:2] == ["event-source-mappings"] and isinstance(response, dict) and response.get("FunctionArn"):
        elements = {"functionArn": response["FunctionArn"], "uUID": response.get("UUID")}
    return name, params, elements


def record(environ, service, raw, status, response_body):
    """Schedules the event of one answered request (when it is a successful mutating call)."""
    if not (200 <= status < 300):
        return
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if service == "lambda":
        try:
            response = json.loads(response_body or b"{}")
        except ValueError:
            response = None
        rec = _lambda_record(method, path, environ.get("QUERY_STRING", ""), raw, response)
        if rec is None:
            return
        name, params, elements = rec
        source = "lambda"
    elif target.startswith("AnyScaleFrontendService."):
        name = target.rsplit(".", 1)[-1]
        if name.startswith(("Describe", "List", "Get")):
            return
        try:
            params = _params(json.loads(raw or b"{}"))
        except ValueError:
            params = {}
        elements, source = None, "application-autoscaling"
    else:
        return
    key = access_key_of(environ)
    account = account_of(key)
    region = re.search(r"Credential=[^/]+/\d+/([^/]+)/", environ.get("HTTP_AUTHORIZATION", ""))
    region = region.group(1) if region else "us-east-1"
    backend = events_backends[account][region]
    if not any(b.rules for b in backend.event_buses.values()):
        return
    arn, _ = identity_of(key)
    detail = {
        "eventVersion": "1.09",
        "userIdentity": user_identity(key, account),
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "eventSource": f"{source}.amazonaws.com",
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "127.0.0.1",
        "userAgent": environ.get("HTTP_USER_AGENT", ""),
        "requestParameters": params,
        "responseElements": elements,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    entry = {"Source": f"aws.{source}", "DetailType": "AWS API Call via CloudTrail", "Detail": json.dumps(detail)}
    delay = float(CONFIG.get("cloudtrail_delay_s") or 0)
    def deliver():
        backend.put_events([entry])
        # When each event reached EventBridge (the benchmark's start of the controller's part).
        STATE["cloudtrail"].append({"t": time.time(), "eventName": name, "caller": arn,
                                    "function": params.get("functionName") or params.get("resourceId")})

    if delay > 0:
        t = threading.Timer(delay, deliver)
        t.daemon = True
        t.start()
    else:
        deliver()


def seed_role(account, name):
    """Creates role `name` in `account` (moto's IAM needs a key of that account otherwise)."""
    backend = iam_backends[account]["aws"]
    try:
        return backend.get_role(name).arn
    except Exception:
        trust = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]})
        return backend.create_role(name, trust, "/", None, "seeded", [], None).arn


def check_assume_role(environ, raw):
    """AWS (AssumeRole): a role that does not exist, or whose trust policy does not allow the
    caller, is refused: "AccessDenied ... is not authorized to perform: sts:AssumeRole on resource".
    moto issues credentials for any role ARN; this refuses roles that do not exist in their account
    (trust policies are not evaluated)."""
    params = parse_qs(raw.decode("utf-8", "replace"))
    if params.get("Action", [""])[0] != "AssumeRole":
        return
    role = params.get("RoleArn", [""])[0]
    parts = role.split(":")
    name = parts[5].split("/")[-1] if len(parts) > 5 else ""
    exists = False
    if len(parts) > 5 and parts[4] in iam_backends:
        try:
            iam_backends[parts[4]]["aws"].get_role(name)
            exists = True
        except Exception:
            exists = False
    if not exists:
        arn, _ = identity_of(access_key_of(environ))
        raise ApiError(403, "AccessDenied",
                       f"User: {arn} is not authorized to perform: sts:AssumeRole on resource: {role}")
