"""SSM Parameter Store: GetParameters answered as AWS does for selectors (moto drops them)."""

from moto.ssm.exceptions import ParameterVersionNotFound
from moto.ssm.models import ssm_backends

from common import account, ApiError


def get_parameters(region, req):
    """GetParameters. AWS (Parameter.Selector): "Either the version number or the label used to
    retrieve the parameter value. Specify selectors by using one of the following formats:
    parameter_name:version parameter_name:label". The answer's Name is the bare name; the
    selector comes back in Selector, so a caller keyed by the requested string must join them."""
    b = ssm_backends[account()][region]
    names = req.get("Names") or []
    if not 1 <= len(names) <= 10:
        raise ApiError(400, "ValidationException",
                       "1 validation error detected: Value at 'names' failed to satisfy constraint: "
                       "Member must have length less than or equal to 10")
    decrypt = bool(req.get("WithDecryption"))
    found, invalid = [], []
    for requested in dict.fromkeys(names):
        bare = b._strip_parameter_arn(requested)
        parts = bare.split(":")
        try:
            p = b.get_parameter(requested) if parts[0] in b._parameters else None
        except ParameterVersionNotFound:
            p = None
        if p is None:
            invalid.append(requested)
            continue
        obj = p.response_object(decrypt, region)
        if len(parts) == 2:
            obj["Selector"] = ":" + parts[1]
        found.append(obj)
    return {"Parameters": found, "InvalidParameters": invalid}
