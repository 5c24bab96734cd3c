"""IAM: what a principal's identity policy allows. A request signed with an access key that
CONFIG["principals"] maps to a policy file is checked against that policy's actions: an action
it does not allow is answered AccessDeniedException, and GetFunction leaves out Tags (with a
TagsError) unless lambda:ListTags is allowed. Keys not listed (the tests' own setup, seeding)
are not checked.

AWS (GetFunction, Tags): "Lambda returns tag data only if you have explicit allow permissions
for lambda:ListTags." Modelled: Allow/Deny statements by Action (wildcards, case-insensitive).
KMS actions that Lambda and Secrets Manager make with the caller's permissions are checked with
their kms:ViaService condition (kms_ext). Not modelled: Resource ARNs, every other condition key,
NotAction, key policies and grants, resource policies, SCPs."""

import fnmatch
import json
import os
import re
from urllib.parse import parse_qs, unquote

import botocore.session

from common import CONFIG, ApiError, access_key_of

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_POLICY = os.path.join(ROOT, "manifests", "deploy", "iam", "policy.json")
# The controller under test signs with this key (tests/it/common): it runs under the shipped policy.
# A second replica of the controller (the HA tests) signs with AKIDTESTB under the same policy.
CONFIG["principals"] = {"AKIDTEST": DEFAULT_POLICY, "AKIDTESTB": DEFAULT_POLICY}

# Where an IAM action is not named after its API operation. Service Authorization Reference,
# "Actions defined by AWS Lambda": InvokeFunction - "Grants permission to invoke a function",
# API operation Invoke (and InvokeWithResponseStream).
LAMBDA_ACTIONS = {"Invoke": "InvokeFunction", "InvokeWithResponseStream": "InvokeFunction"}
JSON_PREFIXES = {"AnyScaleFrontendService": "application-autoscaling", "AmazonSSM": "ssm", "AmazonSQS": "sqs",
                 "DynamoDB_20120810": "dynamodb"}
# Service Authorization Reference, "Actions defined by Amazon SQS": the batch APIs are authorized
# by their single-message actions ("DeleteMessageBatch ... sqs:DeleteMessage").
SQS_ACTIONS = {"DeleteMessageBatch": "DeleteMessage", "SendMessageBatch": "SendMessage",
               "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}
_POLICIES = {}


def _rest_routes(service):
    """(method, path regex, literal query keys, operation) from botocore's model, most specific first."""
    model = botocore.session.get_session().get_service_model(service)
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        path, _, query = http["requestUri"].partition("?")
        rx = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path.rstrip("/"))) + "/?$"
        keys = [kv.split("=")[0] for kv in query.split("&") if kv]
        routes.append((http["method"], re.compile(rx), keys, name))
    return sorted(routes, key=lambda r: -len(r[2]))


LAMBDA_ROUTES = _rest_routes("lambda")


def action_of(environ, service, raw):
    """The IAM action of one request, e.g. lambda:GetFunction; None when unknown."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        prefix, _, op = target.partition(".")
        svc = JSON_PREFIXES.get(prefix, service)
        return f"{svc}:{SQS_ACTIONS.get(op, op) if svc == 'sqs' else op}"
    if service == "lambda":
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        query = parse_qs(environ.get("QUERY_STRING", ""))
        for m, rx, keys, op in LAMBDA_ROUTES:
            if m == method and rx.match(path) and all(k in query for k in keys):
                return f"lambda:{LAMBDA_ACTIONS.get(op, op)}"
        return None
    if service == "monitoring":
        op = re.match(r"^/service/[A-Za-z0-9]+/operation/([A-Za-z]+)$", environ.get("PATH_INFO", ""))
        return f"cloudwatch:{op.group(1)}" if op else None
    if service in ("sns", "sts"):
        op = parse_qs(raw.decode("utf-8", "replace")).get("Action", [None])[0]
        return f"{service}:{op}" if op else None
    return None


def _statements(path):
    if path not in _POLICIES:
        with open(path) as f:
            doc = json.load(f)
        statements = doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
        for st in statements:
            if "NotAction" in st:
                raise ValueError(f"{path}: NotAction is not modelled")
        _POLICIES[path] = statements
    return _POLICIES[path]


def via_service_matches(statement, via):
    """Whether a statement's kms:ViaService condition (if any) admits a KMS request that `via`
    (e.g. lambda.us-east-1.amazonaws.com) makes on the caller's behalf; `via` None is a direct
    call. KMS developer guide, kms:ViaService: "limits use of a KMS key to requests from
    specified AWS services"; StringEquals / StringLike, one value or a list (any of them).
    The only condition key the emulator evaluates: it knows which service calls KMS."""
    for op, keys in (statement.get("Condition") or {}).items():
        for key, values in keys.items():
            if key.lower() != "kms:viaservice":
                continue
            if op not in ("StringEquals", "StringLike"):
                raise ValueError(f"kms:ViaService under {op} is not modelled")
            values = values if isinstance(values, list) else [values]
            match = (lambda v: v == via) if op == "StringEquals" else (lambda v: fnmatch.fnmatchcase(via, v))
            if via is None or not any(match(v) for v in values):
                return False
    return True


def allows(policy_path, action, via=None):
    """Explicit deny wins; otherwise allowed when some Allow statement names the action (and,
    for a KMS action, its kms:ViaService condition admits `via`)."""
    allowed = False
    for st in _statements(policy_path):
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        if any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions):
            if action.startswith("kms:") and not via_service_matches(st, via):
                continue
            if st["Effect"] == "Deny":
                return False
            allowed = True
    return allowed


def policy_of(environ):
    """The policy file of the request's principal; None for an unchecked key."""
    return (CONFIG.get("principals") or {}).get(access_key_of(environ))


def check(environ, service, raw):
    """Raises AccessDeniedException when the principal's policy does not allow the request."""
    policy = policy_of(environ)
    if policy is None:
        return
    action = action_of(environ, service, raw)
    # STS API reference, GetCallerIdentity: "No permissions are required to perform this
    # operation. If an administrator attaches a policy to your identity that explicitly denies
    # access to the sts:GetCallerIdentity action, you can still perform this operation."
    if action == "sts:GetCallerIdentity":
        return
    if action is None or not allows(policy, action):
        key = access_key_of(environ)
        raise ApiError(403 if service in ("lambda", "sns") else 400,
                       "AuthorizationError" if service == "sns" else "AccessDeniedException",
                       f"User: arn:aws:iam::123456789012:user/{key} is not authorized to perform: {action} "
                       f"because no identity-based policy allows the {action} action")


def check_layers(environ, layers):
    """Lambda developer guide, Adding layers to functions: "Make sure that you have permission to
    call the GetLayerVersion API on the layer version. For functions in your AWS account, you must
    have this permission in your user policy." A function update that sets layers needs
    lambda:GetLayerVersion besides lambda:UpdateFunctionConfiguration."""
    policy = policy_of(environ)
    if policy is None or not layers or allows(policy, "lambda:GetLayerVersion"):
        return
    raise ApiError(403, "AccessDeniedException",
                   f"User: arn:aws:iam::123456789012:user/{access_key_of(environ)} is not authorized to perform: "
                   f"lambda:GetLayerVersion on resource: {layers[0]} because no identity-based policy allows "
                   "the lambda:GetLayerVersion action")


def check_code_read(environ, bucket, key, version):
    """Lambda reads UpdateFunctionCode's S3 object with the caller's permissions (Lambda API
    permissions reference: s3:GetObject; s3:GetObjectVersion for a versioned read, S3's rule).
    Observed refusal: "Your access has been denied by S3, please make sure your request
    credentials have permission to GetObject for BUCKET/KEY. S3 Error Code: AccessDenied."."""
    policy = policy_of(environ)
    if policy is None:
        return
    for action in ["s3:GetObject"] + (["s3:GetObjectVersion"] if version else []):
        if not allows(policy, action):
            verb = action.split(":")[1]
            raise ApiError(403, "AccessDeniedException",
                           f"Your access has been denied by S3, please make sure your request credentials have "
                           f"permission to {verb} for {bucket}/{key[:100]}. S3 Error Code: AccessDenied. "
                           "S3 Error Message: Access Denied")


def check_pass_role(environ, role):
    """Lambda API permissions reference: UpdateFunctionConfiguration (and CreateFunction) with a
    Role need iam:PassRole: "The user must have permissions to pass the role to AWS Lambda"."""
    policy = policy_of(environ)
    if policy is None or allows(policy, "iam:PassRole"):
        return
    raise ApiError(403, "AccessDeniedException",
                   f"User: arn:aws:iam::123456789012:user/{access_key_of(environ)} is not authorized to perform: "
                   f"iam:PassRole on resource: {role[:128]} because no identity-based policy allows the "
                   "iam:PassRole action")


def check_image_read(environ, image_account, caller_account):
    """Lambda reads an image of another account with the caller's permissions: "the caller must
    have ecr:BatchGetImage and ecr:GetDownloadUrlForLayer" (repost lambda-ecr-image; observed in
    aws-controllers-k8s/community#1641: "is not authorized to perform: ecr:BatchGetImage on
    resource: arn:aws:ecr:…:repository/…"). Lambda's answer (observed, aws-samples/
    bedrock-access-gateway#127, 403): "Lambda does not have permission to access the ECR image.
    Check the ECR permissions." Same-account images are governed by the repository's policy,
    which the emulator does not model."""
    policy = policy_of(environ)
    if policy is None or image_account == caller_account:
        return
    if not all(allows(policy, a) for a in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")):
        raise ApiError(403, "AccessDeniedException",
                       "Lambda does not have permission to access the ECR image. Check the ECR permissions.")


def check_action(environ, action):
    """An action Lambda's API makes with the caller's permissions besides its own (e.g.
    ec2:DescribeSubnets for a VPC): AccessDeniedException when the policy does not allow it."""
    policy = policy_of(environ)
    if policy is None or allows(policy, action):
        return
    raise ApiError(403, "AccessDeniedException",
                   f"User: arn:aws:iam::123456789012:user/{access_key_of(environ)} is not authorized to perform: "
                   f"{action} because no identity-based policy allows the {action} action")


def may_list_tags(environ):
    policy = policy_of(environ)
    return policy is None or allows(policy, "lambda:ListTags")


def unquoted(path):
    return unquote(path)
