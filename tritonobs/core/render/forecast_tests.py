"""promtool tests of the predictive floor's records (render/forecast.py), generated from the spec.

One file, `alerts/tests/forecast/floor.test.yaml`, one test group per floor and case:
- `ramp`: a flat load, then a linear rise. Flat: the floor is the load itself. Once the fit window holds only
  the ramp, the floor is exactly the load `lookahead` ahead, and the replicas it asks for (ceil(floor /
  capacity)) exceed what the reactive target asks for now.
- `noise`: a flat load with +-20% deterministic pseudo-random noise. The replicas the floor asks for stay
  within one of what the load's own peak needs at that capacity (no flapping beyond the load's).
- `drop`: a high load that falls to a low one. Within two scrapes of the drop the floor is the low load, so
  the floor holds no replica beyond the HPA's own scale-down window.
Every case also carries a pod of another Deployment in the same namespace, serving the same model under a
heavy load, which must not count.

Expectations are computed here from the case's own numbers (load, lookahead, capacity), never from PromQL.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from tritonobs.core import catalogue as c
from tritonobs.core import promql as q
from tritonobs.core.artifacts import Artifact
from tritonobs.core.model import Stack
from tritonobs.core.render import alerts as rules
from tritonobs.core.render.alert_tests import per_model
from tritonobs.core.render.forecast import floor_labels
from tritonobs.core.render.yamlfmt import to_yaml
from tritonobs.core.scaleahead import Floor

FILE = f"{rules.TESTS_DIR}/forecast/floor.test.yaml"
NOISE = 0.2  # +-20% of the mean
NOISE_SCRAPES = 40
OTHER_DEPLOYMENT_LOAD = 500


def noise_sequence(n: int) -> list[float]:
    """n numbers in [-1, 1], deterministic (a 31-bit LCG, glibc's constants), rounded to 0.01."""
    out, x = [], 12345
    for _ in range(n):
        x = (1103515245 * x + 12345) % 2**31
        out.append(round(x / 2**30 - 1, 2))
    return out


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(round(x, 6))


def _sel(name: str, labels: dict[str, str]) -> str:
    return q.sel(name, [q.eq(k, v) for k, v in sorted(labels.items())])


def load_series(stack: Stack, floor: Floor, totals: list[float]) -> list[dict[str, str]]:
    """Input series whose signal, summed over the Deployment's two pods, is `totals` (one value per scrape).

    Half the load on each pod, on the floor's first model; its other models idle. For in-flight requests the
    pod's share is split between running and waiting (the signal adds them)."""
    out: list[dict[str, str]] = []
    inflight = floor.signal == "inflight_requests"
    for pod in (0, 1):
        for i, model in enumerate(floor.models):
            labels = per_model(stack, pod, model)
            share = [t / 2 if i == 0 else 0.0 for t in totals]
            waiting = [s / 2 for s in share] if inflight else share
            running = [s / 2 for s in share] if inflight else [0.0] * len(share)
            out.append({"series": _sel(c.VLLM_WAITING.name, labels), "values": " ".join(map(_num, waiting))})
            if inflight:
                out.append({"series": _sel(c.VLLM_RUNNING.name, labels), "values": " ".join(map(_num, running))})
    # Another Deployment's pod in the same namespace, same model, heavy load: not ours.
    other = {**per_model(stack, 0, floor.models[0]), "pod": "other-llm-7f9c8d6b5-zx4pq"}
    for metric in (c.VLLM_WAITING, c.VLLM_RUNNING):
        out.append({"series": _sel(metric.name, other), "values": f"{OTHER_DEPLOYMENT_LOAD}x{len(totals) - 1}"})
    return out


def _check(expr: str, at: float, value: float, labels: dict[str, str]) -> dict[str, Any]:
    return {"expr": expr, "eval_time": q.duration(at), "exp_samples": [{"labels": _labels(labels), "value": value}]}


def _labels(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


class _Case:
    def __init__(self, stack: Stack, floor: Floor) -> None:
        sa = stack.scale_ahead
        self.stack, self.floor = stack, floor
        self.step = stack.scrape_seconds
        self.lookahead = sa.lookahead_seconds
        self.window_scrapes = round(sa.forecast_window_seconds / self.step)
        self.labels = floor_labels(stack)
        # A base load of at least 20 requests and 4 replicas' worth at the floor's capacity: a ramp of one
        # whole request per 30 s scrape then doubles it in 10 minutes.
        self.base = float(max(20, math.ceil(4 * floor.capacity)))

    def sel(self, record: str) -> str:
        return _sel(record, self.labels)

    def replicas(self, record: str) -> str:
        return f"ceil({self.sel(record)} / {q.number(self.floor.capacity)})"

    def group(self, name: str, totals: list[float], checks: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "name": f"{self.floor.signal} floor: {name}",
            "interval": self.stack.monitoring.scrape_interval,
            "input_series": load_series(self.stack, self.floor, totals),
            "promql_expr_test": checks,
        }


def ramp(case: _Case) -> dict[str, Any]:
    f, step = case.floor, case.step
    flat = case.window_scrapes + 2
    rise = case.window_scrapes + 4  # long enough for a fit window of ramp samples only
    inc = float(max(1, round(case.base * step / 600)))  # whole requests per scrape: about 2x in 10 minutes
    totals = [case.base] * flat + [case.base + inc * (k + 1) for k in range(rise)]
    t_flat, t_ramp = (flat - 1) * step, (len(totals) - 1) * step
    now = totals[-1]
    ahead = now + inc / step * case.lookahead  # the load `lookahead` seconds from now, on the same line
    asked, reactive = math.ceil(ahead / f.capacity), math.ceil(now / f.target)
    if asked <= reactive:
        raise ValueError(f"ramp case asks no replica ahead ({asked} <= {reactive}): bad test parameters")
    err = f"abs({case.sel(f.floor_record)} - {q.number(ahead)}) < bool 0.001"
    return case.group("ramp", totals, [
        _check(case.sel(f.total_record), t_flat, case.base, {"__name__": f.total_record, **case.labels}),
        _check(case.sel(f.floor_record), t_flat, case.base, {"__name__": f.floor_record, **case.labels}),
        _check(case.sel(f.total_record), t_ramp, now, {"__name__": f.total_record, **case.labels}),
        _check(err, t_ramp, 1, case.labels),  # the floor is the load one lookahead ahead (float tolerance)
        _check(case.replicas(f.floor_record), t_ramp, asked, case.labels),  # ... more than reactive asks now
    ])


def noise(case: _Case) -> dict[str, Any]:
    f, step = case.floor, case.step
    lead = case.window_scrapes + 1
    totals = [round(case.base * (1 + NOISE * u), 2) for u in noise_sequence(lead + NOISE_SCRAPES)]
    peak_need = math.ceil(max(totals) / f.capacity)
    at = (len(totals) - 1) * step
    span = q.duration(NOISE_SCRAPES * step)
    band = f"max_over_time({case.replicas(f.floor_record)}[{span}:{q.duration(step)}]) <= bool {peak_need + 1}"
    floor_not_below = f"min_over_time(({case.sel(f.floor_record)} >= bool {case.sel(f.total_record)})[{span}:{q.duration(step)}])"
    return case.group("noise", totals, [
        _check(band, at, 1, case.labels),  # never more than one replica above the load's own peak need
        _check(floor_not_below, at, 1, case.labels),  # and never below the current load
    ])


def drop(case: _Case) -> dict[str, Any]:
    f, step = case.floor, case.step
    high, low = 4 * case.base, case.base
    down = case.stack.autoscaling.scale_down.stabilization_window_seconds
    after = max(2, math.ceil(down / step)) + 1
    totals = [high] * (case.window_scrapes + 2) + [low] * after
    t_drop = (case.window_scrapes + 2) * step
    at = t_drop + (after - 1) * step
    # Prometheus 2 ranges include their left end: [t_drop + 2 scrapes, at].
    held = f"max_over_time({case.sel(f.floor_record)}[{q.duration(at - t_drop - 2 * step)}])"
    return case.group("drop", totals, [
        _check(case.sel(f.floor_record), t_drop + 2 * step, low, {"__name__": f.floor_record, **case.labels}),
        # From two scrapes after the drop to the end of the scale-down window: the low load, nothing held.
        _check(held, at, low, case.labels),
    ])


CASES: tuple[Callable[[_Case], dict[str, Any]], ...] = (ramp, noise, drop)


def test_file(stack: Stack, groups: dict[str, Any]) -> dict[str, Any]:
    """`groups`: the rendered rule groups (promtool evaluates them in their file's order)."""
    return {
        "rule_files": [f"../../{rules.RULES_FILE.rsplit('/', 1)[1]}"],
        "evaluation_interval": stack.monitoring.scrape_interval,
        "group_eval_order": [g["name"] for g in groups["groups"]],
        "tests": [build(_Case(stack, floor)) for floor in stack.scale_ahead.floors for build in CASES],
    }


def render(stack: Stack, groups: dict[str, Any]) -> list[Artifact]:
    if not stack.scale_ahead.floors:
        return []
    return [Artifact(FILE, to_yaml(test_file(stack, groups)))]
