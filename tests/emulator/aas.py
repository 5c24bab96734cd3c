"""Application Auto Scaling: the three Describe calls paginated and validated as AWS does, and
DeregisterScalableTarget removing the target's policies and scheduled actions."""

import json

from moto.applicationautoscaling.models import applicationautoscaling_backends
from moto.applicationautoscaling.responses import _build_policy, _build_scheduled_action, _build_target

from common import account, LOCK, ApiError, call_inner

# moto pages DescribeScalableTargets wrongly (its second token repeats), DescribeScalingPolicies by
# 100 and DescribeScheduledActions not at all; AWS pages them by at most 50, 10 and 50.
AAS_PAGES = {
    "DescribeScalableTargets": ("ScalableTargets", 50, _build_target),
    "DescribeScalingPolicies": ("ScalingPolicies", 10, _build_policy),
    "DescribeScheduledActions": ("ScheduledActions", 50, _build_scheduled_action),
}


def aas_describe(op, region, req):
    key, limit, build = AAS_PAGES[op]
    b = applicationautoscaling_backends[account()][region]
    size = int(req.get("MaxResults") or limit)
    if not 1 <= size <= limit:
        raise ApiError(400, "ValidationException", f"MaxResults must be between 1 and {limit}")
    ns, dim = req.get("ServiceNamespace"), req.get("ScalableDimension")
    ids = req.get("ResourceIds") if op == "DescribeScalableTargets" else req.get("ResourceId")
    # AWS (ScalableDimension of all three): "If you specify a scalable dimension, you must also
    # specify a resource ID."
    if dim and not ids:
        raise ApiError(400, "ValidationException",
                       "If you specify a scalable dimension, you must also specify a resource ID.")
    # AWS (DescribeScalableTargets ResourceIds; PolicyNames, ScheduledActionNames): at most 50.
    for k in ("ResourceIds", "PolicyNames", "ScheduledActionNames"):
        if len(req.get(k) or []) > 50:
            raise ApiError(400, "ValidationException", f"{k} must contain at most 50 items")
    if op == "DescribeScalableTargets":
        items, ids = b._flatten_scalable_targets(ns), req.get("ResourceIds") or []
        items = [t for t in items if not ids or t.resource_id in ids]
    else:
        items = list(b.policies.values()) if op == "DescribeScalingPolicies" else list(b.scheduled_actions)
        names = req.get("PolicyNames") or req.get("ScheduledActionNames") or []
        name = (lambda o: o.policy_name) if op == "DescribeScalingPolicies" else (lambda o: o.scheduled_action_name)
        items = [o for o in items if o.service_namespace == ns and (not names or name(o) in names)
                 and (not req.get("ResourceId") or o.resource_id == req["ResourceId"])]
    items = [o for o in items if not dim or o.scalable_dimension == dim]
    start = int(req.get("NextToken") or 0)
    page = items[start:start + size]
    out = {key: [build(o) for o in page]}
    if start + size < len(items):
        out["NextToken"] = str(start + size)
    return out


def deregister(inner, environ, start_response, region, raw):
    """AWS removes a target's policies and scheduled actions with it; moto keeps them."""
    status, headers, out = call_inner(inner, environ)
    if status.startswith("200"):
        req = json.loads(raw or b"{}")
        b = applicationautoscaling_backends[account()][region]
        same = lambda o: (o.service_namespace, o.resource_id, o.scalable_dimension) == (
            req.get("ServiceNamespace"), req.get("ResourceId"), req.get("ScalableDimension"))
        with LOCK:
            for k in [k for k, p in b.policies.items() if same(p)]:
                del b.policies[k]
            b.scheduled_actions = [a for a in b.scheduled_actions if not same(a)]
    start_response(status, headers)
    return [out]
