"""CloudWatch GetMetricData as the canary judge uses it. moto 5.2.5 answers GetMetricData with
Sum, Average, Minimum, Maximum and SampleCount and checks StartTime < EndTime ("The parameter
EndTime must be greater than StartTime." / "The parameter StartTime must not equal parameter
EndTime."); this module adds what it lacks:
- percentiles (`p50` ... `p99.9`, any `pNN.N`), computed from the raw values the test put
  (nearest rank: the smallest value with at least NN % of the values at or below it);
- AWS's limits on the request (below, each with the rule it follows)."""

import math
import re

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


def check_get_metric_data(request):
    """The refusal of a GetMetricData request, or None."""
    queries = request.get("MetricDataQueries") or []
    # "A single GetMetricData call can include as many as 500 MetricDataQuery structures."
    if len(queries) > 500:
        return ("1 validation error detected: Value at 'metricDataQueries' failed to satisfy constraint: "
                "Member must have length less than or equal to 500")
    for i, q in enumerate(queries, 1):
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
