"""PromQL builders shared by every renderer (dashboards, adapter rules, KEDA, alerts, lab checks).

Expressions are plain strings; matchers are passed as already-formatted `label op "value"` strings so the
same builder serves Grafana variables (`pod=~"$pod"`), concrete selectors and prometheus-adapter's
`<<.LabelMatchers>>` template.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence

from tritonobs.core.catalogue import Metric

# Division guard: clamp_min on the denominator, never `1 + x` (that biases small rates).
EPSILON = "1e-9"


def _q(value: str) -> str:
    # PromQL string literals accept Go/JSON-style escapes.
    return json.dumps(value)


def eq(label: str, value: str) -> str:
    return f"{label}={_q(value)}"


def ne(label: str, value: str) -> str:
    return f"{label}!={_q(value)}"


def re_(label: str, value: str) -> str:
    return f"{label}=~{_q(value)}"


def one_of(label: str, values: Iterable[str]) -> str:
    """`label=~"a|b"` (regex-escaped) or `label="a"` for one value."""
    vals = sorted(set(values))
    if len(vals) == 1:
        return eq(label, vals[0])

    return re_(label, "|".join(re.escape(v) for v in vals))


def name_regex(k8s_name: str) -> str:
    """A Kubernetes name as a regex literal ([a-z0-9.-]: only '.' is special), e.g. for pod-name prefixes."""
    return k8s_name.replace(".", "\\.")


def sel(metric: Metric | str, matchers: Sequence[str] = ()) -> str:
    """A vector selector. Names with ':' are valid metric names (recording-rule style)."""
    inner = ", ".join(m for m in matchers if m)
    return f"{metric}{{{inner}}}" if inner else str(metric)


def rate(selector: str, window: str) -> str:
    return f"rate({selector}[{window}])"


def increase(selector: str, window: str) -> str:
    return f"increase({selector}[{window}])"


def agg(op: str, expr: str, by: Sequence[str] = ()) -> str:
    return f"{op} by ({', '.join(by)}) ({expr})" if by else f"{op}({expr})"


def sum_by(by: Sequence[str], expr: str) -> str:
    return agg("sum", expr, by)


def max_by(by: Sequence[str], expr: str) -> str:
    return agg("max", expr, by)


def clamp_min(expr: str, floor: str = EPSILON) -> str:
    return f"clamp_min({expr}, {floor})"


def ratio(numerator: str, denominator: str) -> str:
    """numerator / denominator, the denominator clamped so an idle model reads 0, not NaN."""
    return f"({numerator}) / {clamp_min(denominator)}"


def histogram_quantile(q: float, hist: Metric, matchers: Sequence[str], window: str, by: Sequence[str] = ()) -> str:
    inner = sum_by(("le", *by), rate(sel(hist.bucket, matchers), window))
    return f"histogram_quantile({q:g}, {inner})"


def avg_from_counters(total: Metric, count: Metric, matchers: Sequence[str], window: str, by: Sequence[str]) -> str:
    """Average per event from two counters: rate(total) / rate(count), summed first (never avg of ratios)."""
    return ratio(sum_by(by, rate(sel(total, matchers), window)), sum_by(by, rate(sel(count, matchers), window)))


def scale(expr: str, factor: float) -> str:
    return f"({expr}) * {factor:g}" if factor >= 1 else f"({expr}) / {1 / factor:g}"


def absent(selector: str) -> str:
    return f"absent({selector})"


def duration(seconds: float) -> str:
    """Seconds -> the shortest exact Prometheus duration ('2m', '90s', '1h')."""
    s = int(round(seconds))
    if s <= 0:
        raise ValueError("duration must be positive")
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


def multiply(expr: str, factor: float) -> str:
    """`(expr) * factor`, for explicit unit conversions (MiB -> bytes)."""
    return f"({expr}) * {number(factor)}"


def divide(expr: str, divisor: float) -> str:
    """`(expr) / divisor`, for explicit unit conversions (µs -> ms, percent -> ratio) by a constant."""
    return f"({expr}) / {number(divisor)}"


def join(left: str, op: str, right: str, on: Sequence[str] | None = None) -> str:
    """`left op [on (labels)] right`, one operand per line: for `and`, `or`, `unless` and comparisons."""
    matching = f" on ({', '.join(on)})" if on is not None else ""
    return f"({left})\n{op}{matching}\n({right})"


def label_replace(expr: str, dst: str, replacement: str, src: str, regex: str) -> str:
    return f"label_replace({expr}, {_q(dst)}, {_q(replacement)}, {_q(src)}, {_q(regex)})"


def number(value: float) -> str:
    """A threshold as PromQL text: shortest exact form (0.72, not 0.7200000000000001)."""
    return f"{value:.10g}"


def le_matcher(bound: float) -> str:
    """Matcher for one histogram bucket, whatever the exporter's float format.

    Triton's prometheus-cpp writes `le="1"`/`le="2.5"` (checked on tritonserver 2.51), Python clients and
    Prometheus 3 (which normalises on ingestion) write `le="1.0"`; both spellings are matched."""
    return one_of("le", {f"{bound:g}", repr(float(bound))})


def hist_fraction_above(
    hist: Metric, bound: float, matchers: Sequence[str], window: str, by: Sequence[str]
) -> str:
    """Share of observations above the bucket bound `bound`: (count - bucket{le=bound}) / count.

    Built so an idle series reads 0 (numerator 0 over a clamped denominator), never 1 or NaN."""
    total = sum_by(by, rate(sel(hist.count, matchers), window))
    within = sum_by(by, rate(sel(hist.bucket, [*matchers, le_matcher(bound)]), window))
    return ratio(f"{total} - {within}", total)


def of_workload(
    metric: Metric, matchers: Sequence[str], over: Callable[[str], str] | None = None
) -> str:
    """`metric` from an exporter that reports on other pods (dcgm-exporter), whichever way it was scraped.

    The exporter labels each series with its user's `namespace`/`pod`. Behind a ServiceMonitor with
    honorLabels false (the charts' default) those arrive as `exported_namespace`/`exported_pod` and the
    plain labels name the exporter itself. `matchers` are written on the user's labels; both forms are
    selected, and the exported values are copied back so `namespace`/`pod` always name the user.
    `over` wraps each selector (e.g. `increase(...[w])`) before relabelling."""
    wrap = over or (lambda s: s)
    exported = wrap(sel(metric, [f"exported_{m}" for m in matchers]))
    for label in ("namespace", "pod"):
        exported = label_replace(exported, label, "$1", f"exported_{label}", "(.+)")
    return join(exported, "or", wrap(sel(metric, matchers)))
