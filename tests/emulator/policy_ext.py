"""Lambda resource-based policies, per qualifier as AWS keeps them (moto stores an alias's
statements on the version the alias points to, removes only from $LATEST and accepts a
duplicate statement id): AddPermission, RemovePermission and GetPolicy with AWS's refusals."""

import json
import re
import uuid

from moto.utilities.utils import get_partition

from common import account, STATE, ApiError

SID = re.compile(r"^[a-zA-Z0-9-_]{1,100}$")  # StatementId: pattern ([a-zA-Z0-9-_]+), 1-100
ACTION = re.compile(r"^(lambda:[*]|lambda:[a-zA-Z]+|[*])$")
# Lambda quotas: "Function resource-based policy: 20 KB".
POLICY_LIMIT = 20480


def principal(p, region):
    """AWS's stored form: everyone (`*`), a service principal, an account's root in the region's partition
    (arn:aws-cn:iam::ID:root in cn-north-1), or the ARN given."""
    if p == "*":
        return "*"  # stored as given, the public grant of a function URL ("Principal": "*")
    if p.endswith(".amazonaws.com"):
        return {"Service": p}
    if re.fullmatch(r"\d{12}", p):
        return {"AWS": f"arn:{get_partition(region)}:iam::{p}:root"}
    return {"AWS": p}


def policy(key):
    return STATE.setdefault("policy", {}).setdefault(key, {"revision": str(uuid.uuid4()), "statements": []})


def document(statements):
    return json.dumps({"Version": "2012-10-17", "Id": "default", "Statement": statements})


def handle(method, region, fn, qualifier, sid, body):
    """`fn` is moto's function (its existence and the qualifier's are checked by the caller)."""
    key = (region, fn.function_name, qualifier or "")
    p = policy(key)
    resource = fn.function_arn + (f":{qualifier}" if qualifier else "")
    if method == "GET":
        if not p["statements"]:
            raise ApiError(404, "ResourceNotFoundException", "The resource you requested does not exist.")
        return 200, {"Policy": document(p["statements"]), "RevisionId": p["revision"]}
    if body.get("RevisionId") not in (None, p["revision"]):
        raise ApiError(412, "PreconditionFailedException",
                       "The RevisionId provided does not match the latest RevisionId for the Lambda function or alias.")
    if method == "DELETE":
        kept = [s for s in p["statements"] if s["Sid"] != sid]
        if len(kept) == len(p["statements"]):
            raise ApiError(404, "ResourceNotFoundException",
                           "No policy is associated with the given resource." if not p["statements"]
                           else f"Statement {sid} is not found in resource policy.")
        p["statements"], p["revision"] = kept, str(uuid.uuid4())
        return 204, None
    sid = body.get("StatementId") or ""
    if not SID.match(sid):
        raise ApiError(400, "ValidationException", f"1 validation error detected: Value '{sid}' at 'statementId' "
                       "failed to satisfy constraint: Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)")
    if not ACTION.match(body.get("Action") or ""):
        raise ApiError(400, "ValidationException", "Value at 'action' failed to satisfy constraint")
    if not body.get("Principal") or re.search(r"\s", body["Principal"]):
        raise ApiError(400, "ValidationException", "Value at 'principal' failed to satisfy constraint")
    if any(s["Sid"] == sid for s in p["statements"]):
        raise ApiError(409, "ResourceConflictException",
                       f"The statement id ({sid}) provided already exists. Please provide a new statement id, "
                       "or remove the existing statement.")
    statement = {"Sid": sid, "Effect": "Allow", "Principal": principal(body["Principal"], region),
                 "Action": body["Action"], "Resource": resource}
    condition = {}
    if body.get("SourceArn"):
        condition["ArnLike"] = {"AWS:SourceArn": body["SourceArn"]}
    if body.get("SourceAccount"):
        if not re.fullmatch(r"\d{12}", body["SourceAccount"]):
            raise ApiError(400, "ValidationException", "Value at 'sourceAccount' failed to satisfy constraint")
        condition["StringEquals"] = {"AWS:SourceAccount": body["SourceAccount"]}
    # AddPermission: FunctionUrlAuthType ("NONE" | "AWS_IAM") "Only Lambda function URLs with this
    # type of authentication are allowed"; InvokedViaFunctionUrl "Restricts the
    # lambda:InvokeFunction action to function URL calls" (so only with that action).
    auth = body.get("FunctionUrlAuthType")
    if auth is not None:
        if auth not in ("NONE", "AWS_IAM"):
            raise ApiError(400, "ValidationException", f"1 validation error detected: Value '{auth}' at "
                           "'functionUrlAuthType' failed to satisfy constraint: Member must satisfy enum value set: "
                           "[AWS_IAM, NONE]")
        condition.setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = auth
    if body.get("InvokedViaFunctionUrl") is not None:
        if body["Action"] != "lambda:InvokeFunction":
            raise ApiError(400, "InvalidParameterValueException",
                           "InvokedViaFunctionUrl is only supported with the lambda:InvokeFunction action.")
        if body["InvokedViaFunctionUrl"]:
            condition["Bool"] = {"lambda:InvokedViaFunctionUrl": "true"}
    if condition:
        statement["Condition"] = condition
    size = len(document(p["statements"] + [statement]))
    if size > POLICY_LIMIT:
        raise ApiError(400, "PolicyLengthExceededException",
                       f"The final policy size ({size}) is bigger than the limit ({POLICY_LIMIT}).")
    p["statements"].append(statement)
    p["revision"] = str(uuid.uuid4())
    return 201, {"Statement": json.dumps(statement)}


def drop(region, name, qualifier):
    """An alias deleted takes its policy with it."""
    STATE.setdefault("policy", {}).pop((region, name, qualifier), None)
