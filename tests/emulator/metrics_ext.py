"""CloudWatch GetMetricData as the canary judge uses it. moto 5.2.5 answers GetMetricData with
Sum, Average, Minimum, Maximum and SampleCount and checks StartTime < EndTime ("The parameter
EndTime must be greater than StartTime." / "The parameter StartTime must not equal parameter
EndTime."); this module adds what it lacks:
- percentiles (`p50` ... `p99.9`, any `pNN.N`), computed from the raw values the test put
  (nearest rank: the smallest value with at least NN % of the values at or below it);
- a query with dimensions matched on its namespace too (moto 5.2.5 matches such a query on the
  metric name and dimensions alone, so a user metric named like a Lambda one read Lambda's);
- AWS's limits on the request (below, each with the rule it follows)."""

import math
import re
import threading

from moto.cloudwatch import models

PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{1,2})?|100)$")
HIGH_RESOLUTION = (1, 5, 10, 20, 30)


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(round(p * len(ordered) / 100.0, 6)))  # 99.9 % of 1000 is 999, not 999.0000001
    return ordered[rank - 1]


_original = models.Statistics.get_statistics_for_type


def _statistics_for_type(self, stat):
    m = PERCENTILE.match(stat or "")
    if m:
        return percentile(self.metric_single_values_list, float(stat[1:]))
    return _original(self, stat)


models.Statistics.get_statistics_for_type = _statistics_for_type

_original_get_metric_data = models.CloudWatchBackend.get_metric_data
_by_namespace = threading.Lock()


def _get_metric_data(self, queries, start_time, end_time, scan_by="TimestampAscending"):
    """moto's GetMetricData, one namespace at a time (its data filtered to that namespace)."""
    namespaces = {((q.get("MetricStat") or {}).get("Metric") or {}).get("Namespace") for q in queries}
    if any("MetricStat" not in q for q in queries) or len(queries) == 0:
        return _original_get_metric_data(self, queries, start_time, end_time, scan_by)
    results = []
    with _by_namespace:
        everything = self.get_all_metrics
        try:
            for ns in sorted(namespaces):
                self.get_all_metrics = lambda ns=ns: [m for m in everything() if m.namespace == ns]
                mine = [q for q in queries if q["MetricStat"]["Metric"].get("Namespace") == ns]
                results.extend(_original_get_metric_data(self, mine, start_time, end_time, scan_by))
        finally:
            del self.get_all_metrics
    return results


models.CloudWatchBackend.get_metric_data = _get_metric_data
ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")


def _constraint(where, rule):
    return f"1 validation error detected: Value at '{where}' failed to satisfy constraint: {rule}"


def check_query(i, q):
    """The refusal of MetricDataQueries.member.i, or None (CloudWatch API reference, MetricDataQuery,
    MetricStat, Metric and Dimension)."""
    qid = q.get("Id") or ""
    # Id: "Valid characters are letters, numbers, and underscore. The first character must be a
    # lowercase letter." "Length Constraints: Minimum length of 1. Maximum length of 255."
    if not ID.match(qid) or len(qid) > 255:
        return f"The parameter MetricDataQueries.member.{i}.Id must start with a lowercase letter and contain only letters, numbers and underscores."
    metric = (q.get("MetricStat") or {}).get("Metric") or {}
    where = f"metricDataQueries.{i}.member.metricStat.metric"
    ns, name = metric.get("Namespace") or "", metric.get("MetricName") or ""
    # Namespace: "Minimum length of 1. Maximum length of 255. Pattern: [^:].*"
    if q.get("MetricStat") and (not 1 <= len(ns) <= 255 or ns.startswith(":")):
        return _constraint(f"{where}.namespace", "Member must have length between 1 and 255 and match [^:].*")
    # MetricName: "Minimum length of 1. Maximum length of 255."
    if q.get("MetricStat") and not 1 <= len(name) <= 255:
        return _constraint(f"{where}.metricName", "Member must have length between 1 and 255")
    dims = metric.get("Dimensions") or []
    # Metric.Dimensions: "Array Members: Maximum number of 30 items."
    if len(dims) > 30:
        return _constraint(f"{where}.dimensions", "Member must have length less than or equal to 30")
    for d in dims:
        # Dimension.Name: "Minimum length of 1. Maximum length of 255." Dimension.Value: "Minimum
        # length of 1. Maximum length of 1024."
        if not 1 <= len(d.get("Name") or "") <= 255:
            return _constraint(f"{where}.dimensions.member.name", "Member must have length between 1 and 255")
        if not 1 <= len(d.get("Value") or "") <= 1024:
            return _constraint(f"{where}.dimensions.member.value", "Member must have length between 1 and 1024")
    return None


def check_get_metric_data(request):
    """The refusal of a GetMetricData request, or None."""
    queries = request.get("MetricDataQueries") or []
    # "A single GetMetricData call can include as many as 500 MetricDataQuery structures."
    if len(queries) > 500:
        return ("1 validation error detected: Value at 'metricDataQueries' failed to satisfy constraint: "
                "Member must have length less than or equal to 500")
    ids = [q.get("Id") for q in queries]
    # Id: "The value must be unique in an array of MetricDataQuery structures."
    if len(set(ids)) != len(ids):
        return "The value of an Id must be unique in MetricDataQueries."
    for i, q in enumerate(queries, 1):
        refused = check_query(i, q)
        if refused:
            return refused
        stat = q.get("MetricStat")
        if not stat:
            continue
        period = int(stat.get("Period") or 0)
        # MetricStat.Period: "For metrics with regular resolution, a period can be as short as one
        # minute (60 seconds) and must be a multiple of 60. For high-resolution metrics ... the
        # period can be 1, 5, 10, 20, 30, 60, or any multiple of 60." "Valid Range: Minimum value of 1."
        if period < 1 or (period not in HIGH_RESOLUTION and period % 60 != 0):
            return (f"The parameter MetricDataQueries.member.{i}.MetricStat.Period must be 1, 5, 10, 20, 30, "
                    "60 or a multiple of 60.")
        s = stat.get("Stat") or ""
        # Stat: "any CloudWatch statistic or extended statistic" (pNN.NN up to p100).
        if s not in ("Sum", "Average", "Minimum", "Maximum", "SampleCount") and not PERCENTILE.match(s):
            return f"The parameter MetricDataQueries.member.{i}.MetricStat.Stat has an invalid value: {s[:32]}"
    return None
