"""Lambda event source mappings as AWS keeps them (moto 5.2.5 stores an alias as its version's
ARN, filters the list on the raw FunctionName string, never reports Creating/Updating, accepts
duplicates and checks almost no limit): create, list, get, update, delete, with AWS's states and
refusals. See docs/design/event-source-mappings.md for the sources of each rule."""

import fnmatch
import json
import time
import uuid

from moto.iam.models import iam_backends
from moto.sqs.models import sqs_backends

from common import account, CONFIG, STATE, ApiError

STREAM_ONLY = {"ParallelizationFactor", "BisectBatchOnFunctionError", "MaximumRetryAttempts",
               "MaximumRecordAgeInSeconds", "DestinationConfig", "StartingPosition", "TumblingWindowInSeconds"}
SETTLE = ("Creating", "Updating", "Deleting", "Enabling", "Disabling")


def invalid(message):
    return ApiError(400, "InvalidParameterValueException", message)


def kind(source):
    service = source.split(":")[2] if source.count(":") >= 5 else ""
    if service == "sqs":
        return "sqs-fifo" if source.endswith(".fifo") else "sqs"
    if service in ("kinesis", "dynamodb"):
        return "stream"
    raise invalid(f"Unsupported event source type: {source}")


def store():
    return STATE.setdefault("esm", {})


def settle(m):
    """A transition ends after CONFIG["esm_settle_seconds"]: Creating/Updating become Enabled or
    Disabled; Deleting removes the mapping."""
    if m["State"] in SETTLE and time.monotonic() >= m["settle_at"]:
        if m["State"] == "Deleting":
            store().pop(m["UUID"], None)
            return None
        m["State"] = "Enabled" if m["Enabled"] else "Disabled"
    return m


def view(m):
    out = {k: v for k, v in m.items() if k not in ("settle_at", "Enabled")}
    out["LastModified"] = m["LastModified"]
    return out


def check(k, body):
    """AWS's refusals of a mapping's settings for its source type."""
    if k != "stream":
        for p in sorted(STREAM_ONLY & set(body)):
            raise invalid(f"Unsupported '{p}' parameter for given event source mapping type.")
    if k == "stream" and "ScalingConfig" in body and body["ScalingConfig"]:
        raise invalid("Unsupported 'ScalingConfig' parameter for given event source mapping type.")
    batch = body.get("BatchSize")
    limit = 10 if k == "sqs-fifo" else 10000
    if batch is not None and not 1 <= int(batch) <= limit:
        raise invalid(f"BatchSize {batch} is out of range (1-{limit}) for this event source.")
    window = body.get("MaximumBatchingWindowInSeconds")
    if window is not None and not 0 <= int(window) <= 300:
        raise invalid("MaximumBatchingWindowInSeconds must be between 0 and 300.")
    # Lambda developer guide, "Lambda parameters for Amazon SQS event source mappings"
    # (services-sqs-parameters): MaximumBatchingWindowInSeconds, default 0, "Batching window is
    # not supported for FIFO queues". Refused on Create and Update alike. The default (0) is
    # taken, as it sets no window.
    if k == "sqs-fifo" and window:
        raise invalid("Batching window is not supported for FIFO queues")
    concurrency = (body.get("ScalingConfig") or {}).get("MaximumConcurrency")
    if concurrency is not None and not 2 <= int(concurrency) <= 1000:
        raise invalid("MaximumConcurrency must be between 2 and 1000.")
    for t in body.get("FunctionResponseTypes") or []:
        if t != "ReportBatchItemFailures":
            raise invalid(f"Unsupported FunctionResponseType {t}.")
    if len(((body.get("FilterCriteria") or {}).get("Filters")) or []) > 5:
        raise invalid("The number of filters exceeds the limit of 5.")


def batching(k, m):
    # "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10"
    if k.startswith("sqs") and m.get("BatchSize", 0) > 10 and not m.get("MaximumBatchingWindowInSeconds"):
        raise invalid("Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10")


# Lambda developer guide (with-sqs, "Execution role permissions"): "Lambda needs the following
# permissions to manage messages in your Amazon SQS queue. Add them to your function's execution
# role: sqs:ReceiveMessage, sqs:DeleteMessage, sqs:GetQueueAttributes." Without them
# CreateEventSourceMapping answers InvalidParameterValueException "The provided execution role
# does not have permissions to call ReceiveMessage on SQS", and keeps answering it until the role
# changes (a persistent refusal, not a propagation delay). Statements are matched on their actions
# (wildcards included); resources and Deny statements are not evaluated.
SQS_CONSUMER = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")


def role_documents(role_arn):
    try:
        role = iam_backends[account()]["aws"].get_role(role_arn.split("/")[-1])
    except Exception:
        return []
    docs = list(role.policies.values())
    docs += [v.document for p in role.managed_policies.values() for v in p.versions if v.is_default]
    return [json.loads(d) if isinstance(d, str) else d for d in docs]


def missing_actions(role_arn, actions):
    allowed = set()
    for doc in role_documents(role_arn):
        statements = doc.get("Statement", [])
        for st in [statements] if isinstance(statements, dict) else statements:
            if st.get("Effect") != "Allow":
                continue
            patterns = st.get("Action", [])
            patterns = [patterns] if isinstance(patterns, str) else patterns
            allowed |= {a for a in actions if any(fnmatch.fnmatchcase(a.lower(), p.lower()) for p in patterns)}
    return [a for a in actions if a not in allowed]


def check_role(fn_arn, region):
    from lambda_ext import backend
    try:
        role = backend(region).get_function(fn_arn.split(":")[6]).role
    except Exception:
        return
    missing = missing_actions(role, SQS_CONSUMER)
    if missing:
        raise invalid(f"The provided execution role does not have permissions to call {missing[0].split(':')[1]} on SQS")


def create(fn_arn, body, region):
    source = body.get("EventSourceArn") or ""
    k = kind(source)
    if k.startswith("sqs") and not any(q.queue_arn == source for q in sqs_backends[account()][region].queues.values()):
        raise invalid(f"Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. "
                      f"SQS Error Message: The specified queue does not exist ({source})")
    if k == "stream" and body.get("StartingPosition") not in ("LATEST", "TRIM_HORIZON", "AT_TIMESTAMP"):
        raise invalid("StartingPosition is required for stream event sources.")
    check(k, body)
    if k.startswith("sqs"):
        check_role(fn_arn, region)
    for m in list(store().values()):
        if settle(m) and m["EventSourceArn"] == source and m["FunctionArn"] == fn_arn:
            raise ApiError(409, "ResourceConflictException",
                           f"An event source mapping with event source ({source}) and function ({fn_arn}) already "
                           f"exists. Please update or delete the existing mapping with UUID {m['UUID']}")
    m = {"UUID": str(uuid.uuid4()), "EventSourceArn": source, "FunctionArn": fn_arn,
         "BatchSize": int(body.get("BatchSize") or (100 if k == "stream" else 10)),
         "MaximumBatchingWindowInSeconds": int(body.get("MaximumBatchingWindowInSeconds") or 0),
         "FunctionResponseTypes": body.get("FunctionResponseTypes") or [],
         "Enabled": body.get("Enabled", True), "State": "Creating", "StateTransitionReason": "USER_INITIATED",
         "LastModified": time.time(), "settle_at": time.monotonic() + CONFIG.get("esm_settle_seconds", 0.5)}
    if body.get("FilterCriteria", {}).get("Filters"):
        m["FilterCriteria"] = body["FilterCriteria"]
    if body.get("ScalingConfig"):
        m["ScalingConfig"] = body["ScalingConfig"]
    if k == "stream":
        m.update({"StartingPosition": body["StartingPosition"],
                  "ParallelizationFactor": int(body.get("ParallelizationFactor") or 1),
                  "BisectBatchOnFunctionError": bool(body.get("BisectBatchOnFunctionError", False)),
                  "MaximumRetryAttempts": int(body.get("MaximumRetryAttempts", -1)),
                  "MaximumRecordAgeInSeconds": int(body.get("MaximumRecordAgeInSeconds", -1)),
                  "DestinationConfig": body.get("DestinationConfig") or {"OnFailure": {}}})
    batching(k, m)
    store()[m["UUID"]] = m
    return 202, view(m)


def get(uid):
    m = store().get(uid)
    if not m or not settle(m):
        raise ApiError(404, "ResourceNotFoundException", f"The resource you requested does not exist. (Service: Lambda, UUID: {uid})")
    return m


def update(uid, body):
    m = get(uid)
    if m["State"] in SETTLE:
        # AWS: ResourceInUseException while the mapping is Creating, Updating or Deleting.
        raise ApiError(400, "ResourceInUseException",
                       f"Cannot update the event source mapping because it is in use. (State: {m['State']})")
    k = kind(m["EventSourceArn"])
    check(k, {key: v for key, v in body.items() if key != "StartingPosition"} if k == "stream" else body)
    if "StartingPosition" in body:
        raise invalid("Unsupported 'StartingPosition' parameter: it is set at creation only.")
    new = dict(m)
    for key in ("BatchSize", "MaximumBatchingWindowInSeconds", "FunctionResponseTypes", "ParallelizationFactor",
                "BisectBatchOnFunctionError", "MaximumRetryAttempts", "MaximumRecordAgeInSeconds"):
        if key in body:
            new[key] = body[key]
    if "Enabled" in body:
        new["Enabled"] = bool(body["Enabled"])
    # "To remove the configuration, pass an empty value."
    for key in ("ScalingConfig", "FilterCriteria"):
        if key in body:
            value = body[key] or {}
            if value and (key != "FilterCriteria" or value.get("Filters")):
                new[key] = value
            else:
                new.pop(key, None)
    if "DestinationConfig" in body:
        new["DestinationConfig"] = body["DestinationConfig"] or {"OnFailure": {}}
    batching(k, new)
    new.update({"State": "Updating", "LastModified": time.time(),
                "settle_at": time.monotonic() + CONFIG.get("esm_settle_seconds", 0.5)})
    store()[uid] = new
    return 202, view(new)


def delete(uid):
    m = get(uid)
    if m["State"] in SETTLE:
        raise ApiError(400, "ResourceInUseException",
                       f"Cannot delete the event source mapping because it is in use. (State: {m['State']})")
    m.update({"State": "Deleting", "settle_at": time.monotonic() + CONFIG.get("esm_settle_seconds", 0.5)})
    return 202, view(m)


def listing(fn_arn, source, marker, max_items):
    """ListEventSourceMappings: FunctionName matches the mapping's function ARN exactly (an alias's
    mappings are listed by `name:alias`); at most MaxItems (default 100) a page, with NextMarker."""
    items = [m for m in list(store().values()) if settle(m)]
    items = [m for m in items if (fn_arn is None or m["FunctionArn"] == fn_arn)
             and (source is None or m["EventSourceArn"] == source)]
    items.sort(key=lambda m: m["UUID"])
    start = int(marker or 0)
    page = items[start:start + max_items]
    out = {"EventSourceMappings": [view(m) for m in page]}
    if start + max_items < len(items):
        out["NextMarker"] = str(start + max_items)
    return 200, out
