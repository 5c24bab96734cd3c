"""CloudWatch: the SDKs now speak Smithy RPC v2 CBOR to CloudWatch (botocore's model lists
protocols ["smithy-rpc-v2-cbor", "json", "query"]; AWS serves all three), which moto does not
parse. This module transcodes: a CBOR request (POST /service/GraniteServiceVersion20100801/
operation/OP, header smithy-protocol: rpc-v2-cbor) is passed to moto as the equivalent AWS JSON
1.0 request, and moto's JSON answer is sent back as CBOR (timestamps as CBOR tag 1, epoch
seconds, as the protocol requires). Errors carry the code in `__type`, and in the
x-amzn-query-error header ("Code;Sender") since CloudWatch is awsQueryCompatible."""

import io
import json
import re
from datetime import datetime

import botocore.session
import cbor2

from common import call_inner
import metrics_ext

PATH = re.compile(r"^/service/GraniteServiceVersion20100801/operation/(?P<op>[A-Za-z]+)$")
_MODEL = None


def model():
    global _MODEL
    if _MODEL is None:
        _MODEL = botocore.session.get_session().get_service_model("cloudwatch")
    return _MODEL


def operation_of(path):
    m = PATH.match(path)
    return m["op"] if m else None


def _to_json(value):
    """CBOR-decoded input → JSON-protocol input (timestamps as epoch seconds)."""
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.timestamp()
    return value


def _to_cbor(value, shape):
    """JSON-protocol output → CBOR values, walking the output shape to tag timestamps."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {k: _to_cbor(v, shape.members.get(k)) for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [_to_cbor(v, shape.member) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _to_cbor(v, shape.value) for k, v in value.items()}
    if kind in ("double", "float") and isinstance(value, (int, float)):
        return float(value)  # CBOR keeps int and float apart; the SDK reads a double only as a float
    if kind == "timestamp":
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        return cbor2.CBORTag(1, float(value))
    return value


def as_json(raw):
    """A CBOR request body as JSON text (for the request log)."""
    try:
        return json.dumps(_to_json(cbor2.loads(raw)) if raw else {})
    except Exception:  # a malformed body is answered by moto; the log just says so
        return "(unparsable CBOR)"


def cbor_response(start_response, status, body, code=None):
    data = cbor2.dumps(body)
    headers = [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor"),
               ("Content-Length", str(len(data)))]
    if code:
        headers.append(("x-amzn-query-error", f"{code};Sender"))
    start_response(status, headers)
    return [data]


def cbor_error(start_response, status, code, message):
    return cbor_response(start_response, f"{status} Error", {"__type": code, "message": message}, code)


def check_describe_alarms(request):
    """DescribeAlarms: "AlarmNames ... Maximum number of 100 items"; "MaxRecords ... Valid Range:
    Minimum value of 1. Maximum value of 100." (CloudWatch API reference)."""
    if len(request.get("AlarmNames") or []) > 100:
        return "1 validation error detected: Value at 'alarmNames' failed to satisfy constraint: Member must have length less than or equal to 100"
    mr = request.get("MaxRecords")
    if mr is not None and not 1 <= int(mr) <= 100:
        return f"1 validation error detected: Value '{mr}' at 'maxRecords' failed to satisfy constraint: Member must have value between 1 and 100"
    return None


def handle(inner, environ, start_response, raw):
    op = operation_of(environ.get("PATH_INFO", ""))
    request = _to_json(cbor2.loads(raw)) if raw else {}
    refused = check_describe_alarms(request) if op == "DescribeAlarms" else None
    if op == "GetMetricData":
        refused = metrics_ext.check_get_metric_data(request)
    if refused:
        return cbor_error(start_response, 400, "ValidationError", refused)
    body = json.dumps(request).encode()
    forwarded = dict(environ)
    forwarded.update({
        "PATH_INFO": "/",
        "CONTENT_TYPE": "application/x-amz-json-1.0",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_X_AMZ_TARGET": f"GraniteServiceVersion20100801.{op}",
        "wsgi.input": io.BytesIO(body),
    })
    forwarded.pop("HTTP_SMITHY_PROTOCOL", None)
    status, _headers, out = call_inner(inner, forwarded)
    doc = json.loads(out) if out.strip() else {}
    if not status.startswith("2"):
        code = str(doc.get("__type", "InternalFailure")).rsplit("#", 1)[-1]
        return cbor_error(start_response, status.split(" ", 1)[0], code, doc.get("message") or doc.get("Message", ""))
    shape = model().operation_model(op).output_shape
    return cbor_response(start_response, status, _to_cbor(doc, shape) or {})
