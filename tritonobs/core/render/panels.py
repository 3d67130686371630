"""House-style Grafana panels and dashboards, built on grafanalib.

Every data panel has a unit and a description (required keyword arguments), reads the `${datasource}`
variable, and runs queries that pass `counter_problems` (no raw counters). `dashboard()` lays sections out
on Grafana's 24-column grid, numbers panels in order (stable ids), and adds the `datasource`, `namespace`,
`model` and `pod` variables. Sources in `dashboards/*.dashboard.py` use only these helpers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import attr
from grafanalib import core as g

from tritonobs.core import catalogue as c
from tritonobs.core import promql as q
from tritonobs.core.model import GENERATED_BY, Stack
from tritonobs.core.render.dashboard_queries import NAMESPACE, counter_problems

DATASOURCE: dict[str, str] = {"type": "prometheus", "uid": "${datasource}"}
GRID_WIDTH = 24
SCHEMA_VERSION = 39  # the JSON below is written in the current panel model; no legacy migration wanted
VARIABLE_METRIC = c.NV_REQUEST_SUCCESS  # every Triton model exports it once loaded


@dataclass(frozen=True)
class Series:
    """One query of a panel and its legend (`{{label}}` placeholders)."""

    expr: str
    legend: str = ""


Steps = Sequence[tuple[float, str]]


def thresholds(steps: Steps = (), base: str = "green") -> list[dict[str, Any]]:
    """Grafana threshold steps: `base` from -inf, then (value, colour) in increasing order."""
    values = [v for v, _ in steps]
    if values != sorted(values):
        raise ValueError(f"threshold steps must increase: {values}")
    return [{"color": base, "value": None}, *({"color": col, "value": v} for v, col in steps)]


def _check(title: str, unit: str, description: str) -> None:
    if not unit.strip():
        raise ValueError(f"panel {title!r}: unit is required (a Grafana unit id, e.g. 's', 'reqps', 'short')")
    if not description.strip():
        raise ValueError(f"panel {title!r}: description is required (say what the panel shows and why)")


def _targets(title: str, series: Sequence[Series], *, instant: bool = False) -> list[g.Target]:
    if not series:
        raise ValueError(f"panel {title!r}: needs at least one query")
    out = []
    for i, s in enumerate(series):
        problems = counter_problems(s.expr)
        if problems:
            raise ValueError(f"panel {title!r}: {'; '.join(problems)}")
        out.append(
            g.Target(
                expr=s.expr,
                legendFormat=s.legend,
                refId=chr(ord("A") + i),
                datasource=DATASOURCE,
                instant=instant,
                intervalFactor=1,
            )
        )
    return out


def _size(w: int, h: int) -> g.GridPos:
    if not 1 <= w <= GRID_WIDTH or h < 1:
        raise ValueError(f"panel size {w}x{h} does not fit the {GRID_WIDTH}-column grid")
    return g.GridPos(h=h, w=w, x=0, y=0)  # x, y are set by dashboard()


def timeseries(
    title: str,
    *,
    unit: str,
    description: str,
    series: Sequence[Series],
    w: int = 12,
    h: int = 8,
    steps: Steps = (),
    threshold_style: str = "off",
    min_value: int | None = None,
    stacked: bool = False,
) -> g.TimeSeries:
    """A time series. `steps` + `threshold_style` ("line", "dashed") draw targets and SLOs as lines."""
    _check(title, unit, description)
    return g.TimeSeries(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=_targets(title, series),
        unit=unit,
        gridPos=_size(w, h),
        thresholds=thresholds(steps),
        thresholdsStyleMode=threshold_style,
        valueMin=min_value,
        stacking={"mode": "normal", "group": "A"} if stacked else {"mode": "none"},
        fillOpacity=20 if stacked else 0,
        legendDisplayMode="table",
        legendCalcs=["lastNotNull", "max"],
        tooltipMode="multi",
        tooltipSort="desc",
        maxDataPoints=None,
    )


def stat(
    title: str,
    *,
    unit: str,
    description: str,
    series: Sequence[Series],
    w: int = 6,
    h: int = 4,
    steps: Steps = (),
    instant: bool = True,
) -> g.Stat:
    """A single number (instant query by default: the value now, or a total over `$__range`)."""
    _check(title, unit, description)
    return g.Stat(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=_targets(title, series, instant=instant),
        format=unit,
        gridPos=_size(w, h),
        thresholds=thresholds(steps),
        reduceCalc="lastNotNull",
        color={"mode": "thresholds"},
        graphMode="none" if instant else "area",
        noValue="no data",
        maxDataPoints=None,
    )


def _single_value(
    title: str, unit: str, description: str, series: Sequence[Series], min_value: float, max_value: float,
    w: int, h: int, steps: Steps,
) -> dict[str, Any]:
    """What a gauge and a bar gauge share: checks, queries, scale, size, thresholds, last value."""
    _check(title, unit, description)
    return {
        "title": title,
        "description": description,
        "dataSource": DATASOURCE,
        "targets": _targets(title, series),
        "format": unit,
        "min": min_value,
        "max": max_value,
        "gridPos": _size(w, h),
        "thresholds": thresholds(steps),
        "calc": "lastNotNull",
        "maxDataPoints": None,
    }


def gauge(
    title: str,
    *,
    unit: str,
    description: str,
    series: Sequence[Series],
    min_value: float,
    max_value: float,
    w: int = 6,
    h: int = 8,
    steps: Steps = (),
) -> g.GaugePanel:
    return g.GaugePanel(
        **_single_value(title, unit, description, series, min_value, max_value, w, h, steps),
        # grafanalib 0.7.1 puts the display options under fieldConfig; Grafana reads them from options.
        extraJson={"options": _reduce_options(showThresholdMarkers=True, showThresholdLabels=False)},
    )


def bargauge(
    title: str,
    *,
    unit: str,
    description: str,
    series: Sequence[Series],
    min_value: float,
    max_value: float,
    w: int = 6,
    h: int = 8,
    steps: Steps = (),
) -> g.BarGauge:
    common = _single_value(title, unit, description, series, min_value, max_value, w, h, steps)
    return g.BarGauge(
        **common,
        displayMode=g.GAUGE_DISPLAY_MODE_GRADIENT,
        # grafanalib 0.7.1 writes the Grafana 6 `options.fieldOptions`; write the current model too, with the
        # same values, so the panel reads the same whether or not Grafana migrates the old block.
        extraJson={
            "fieldConfig": {
                "defaults": {
                    "unit": unit,
                    "min": min_value,
                    "max": max_value,
                    "thresholds": {"mode": "absolute", "steps": common["thresholds"]},
                }
            },
            "options": _reduce_options(),
        },
    )


def _reduce_options(**extra: Any) -> dict[str, Any]:
    return {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, **extra}


def text(title: str, *, content: str, description: str, w: int = GRID_WIDTH, h: int = 3) -> g.Text:
    """A markdown note (no query, so no unit)."""
    if not description.strip():
        raise ValueError(f"panel {title!r}: description is required")
    return g.Text(title=title, description=description, content=content, gridPos=_size(w, h))


@dataclass(frozen=True)
class Section:
    """A dashboard row and the panels under it, laid out left to right, wrapping at 24 columns."""

    title: str
    panels: Sequence[g.Panel] = field(default_factory=tuple)


def _layout(sections: Sequence[Section], min_interval: str) -> list[g.Panel]:
    out: list[g.Panel] = []
    y = 0
    for section in sections:
        out.append(g.RowPanel(title=section.title, gridPos=g.GridPos(h=1, w=GRID_WIDTH, x=0, y=y)))
        y += 1
        x = line_height = 0
        for panel in section.panels:
            w, h = panel.gridPos.w, panel.gridPos.h
            if x + w > GRID_WIDTH:
                x, y, line_height = 0, y + line_height, 0
            # Min step = the scrape interval, so Grafana's $__rate_interval spans 4 scrapes even when the
            # datasource's own "scrape interval" setting is left at its 15 s default.
            targets = [attr.evolve(t, interval=min_interval) for t in panel.targets]
            out.append(attr.evolve(panel, gridPos=g.GridPos(h=h, w=w, x=x, y=y), targets=targets))
            x += w
            line_height = max(line_height, h)
        y += line_height
    # Ids in document order: stable across renders, and unchanged by edits further down the dashboard.
    return [attr.evolve(p, id=i) for i, p in enumerate(out, start=1)]


@dataclass(frozen=True)
class AllByDefault:
    """A multi-value grafanalib Template whose initial selection is All (grafanalib can only set one value)."""

    template: g.Template

    def to_json_data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.template.to_json_data()
        data["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
        return data


def _pod_regex(deployment: str) -> str:
    # Grafana applies it to the label values: only this Deployment's pods (`<deployment>-<hash>-<id>`).
    return "/^" + q.name_regex(deployment) + "-.*/"


def datasource_type(stack: Stack) -> str:
    """The data source plugin the dashboards list (see monitoring.grafana.datasource_type)."""
    mon = stack.spec.monitoring
    if mon.grafana.datasource_type is not None:
        return mon.grafana.datasource_type
    return "grafana-amazonprometheus-datasource" if mon.backend == "amp" else "prometheus"


def variables(stack: Stack) -> list[g.Template | AllByDefault]:
    uid = stack.spec.monitoring.grafana.datasource_uid
    model_of_ns = q.sel(VARIABLE_METRIC, (NAMESPACE,))
    pods_of_models = q.sel(VARIABLE_METRIC, (NAMESPACE, q.re_("model", "$model")))
    return [
        g.Template(
            name="datasource", label="Data source", type="datasource", query=datasource_type(stack), default=uid
        ),
        g.Template(
            name="namespace",
            label="Namespace",
            query=f"label_values({VARIABLE_METRIC}, namespace)",
            dataSource=DATASOURCE,
            default=stack.namespace,
            refresh=g.REFRESH_ON_TIME_RANGE_CHANGE,
        ),
        AllByDefault(
            g.Template(
                name="model",
                label="Model",
                query=f"label_values({model_of_ns}, model)",
                dataSource=DATASOURCE,
                multi=True,
                includeAll=True,
                refresh=g.REFRESH_ON_TIME_RANGE_CHANGE,
            )
        ),
        AllByDefault(
            g.Template(
                name="pod",
                label="Pod",
                query=f"label_values({pods_of_models}, pod)",
                regex=_pod_regex(stack.spec.triton.deployment),
                dataSource=DATASOURCE,
                multi=True,
                includeAll=True,
                refresh=g.REFRESH_ON_TIME_RANGE_CHANGE,
            )
        ),
    ]


def dashboard(
    stack: Stack,
    slug: str,
    *,
    title: str,
    description: str,
    sections: Sequence[Section],
    tags: Sequence[str] = (),
    time_from: str = "now-1h",
) -> g.Dashboard:
    """A complete dashboard: variables, layout, stable uid and tags, marked as generated."""
    if not description.strip():
        raise ValueError(f"dashboard {title!r}: description is required")
    return g.Dashboard(
        title=f"{title} ({stack.name})",
        uid=stack.dashboard_uid(slug),
        description=f"{GENERATED_BY}. {description}",
        tags=["tritonobs", stack.name, *tags],
        panels=_layout(sections, stack.spec.monitoring.scrape_interval),
        templating=g.Templating(list=variables(stack)),
        links=[
            g.DashboardLink(
                title="tritonobs",
                tags=["tritonobs", stack.name],
                asDropdown=True,
                includeVars=True,
                keepTime=True,
            )
        ],
        editable=False,
        graphTooltip=g.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR,
        refresh=stack.spec.monitoring.scrape_interval,
        schemaVersion=SCHEMA_VERSION,
        time=g.Time(time_from, "now"),
        timezone="browser",
    )
