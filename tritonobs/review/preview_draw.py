"""Draw Grafana panels with matplotlib from query results given to it. Pure: data in, Figure out.

What the panel JSON says is what is drawn: type (timeseries, stat, gauge, bargauge, text, row), unit as
Grafana formats it (units.py), thresholds and their colours (lines/areas when `thresholdsStyle` asks),
legend from `legendFormat` (`{{pod}}`), min/max, stacking. Every image says it is a preview drawn by
tritonobs, not a Grafana screenshot.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Wedge  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from tritonobs.review.units import format_value  # noqa: E402

MARK = "preview drawn by tritonobs — not a Grafana screenshot"
BG, PANEL_BG, TEXT, GRID = "#111217", "#181b1f", "#ccccdc", "#2c3235"
# Grafana's named colours (dark theme) and its classic palette, in order.
NAMED = {"green": "#73BF69", "red": "#F2495C", "orange": "#FF9830", "yellow": "#FADE2A", "blue": "#5794F2",
         "purple": "#B877D9", "dark-red": "#C4162A", "dark-green": "#37872D", "dark-orange": "#FA6400",
         "dark-yellow": "#E0B400", "semi-dark-red": "#E02F44", "semi-dark-green": "#56A64B", "text": TEXT,
         "transparent": "#00000000"}
PALETTE = ["#7EB26D", "#EAB839", "#6ED0E0", "#EF843C", "#E24D42", "#1F78C1", "#BA43A9", "#705DA0", "#508642",
           "#CCA300", "#447EBC", "#C15C17"]


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: tuple[tuple[float, float], ...]  # (unix seconds, value)
    ref: str = "A"
    legend: str = ""  # the target's legendFormat


@dataclass(frozen=True)
class PanelData:
    series: tuple[Series, ...] = ()
    note: str = ""  # why there is no data, when there is none


def esc(text: str) -> str:
    """Text as written: matplotlib reads `$...$` as math, and Grafana titles and queries are full of `$var`."""
    return text.replace("$", r"\$")


def color(name: str | None) -> str:
    if not name:
        return NAMED["green"]
    return NAMED.get(name, name)


def legend_name(s: Series) -> str:
    """Grafana's legend: `{{label}}` replaced by the label's value; without a format, the series' labels."""
    if s.legend and s.legend != "__auto":
        return re.sub(r"\{\{\s*([\w.:-]+)\s*\}\}", lambda m: s.labels.get(m.group(1), ""), s.legend)
    name = s.labels.get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}" if rest or not name else name


def _defaults(panel: dict[str, Any]) -> dict[str, Any]:
    return (panel.get("fieldConfig") or {}).get("defaults") or {}


def steps(panel: dict[str, Any]) -> list[tuple[float, str]]:
    """Threshold steps as (from value, colour); the base step (value null) starts at -inf."""
    out = []
    for s in (_defaults(panel).get("thresholds") or {}).get("steps") or []:
        v = s.get("value")
        out.append((-math.inf if v is None else float(v), color(s.get("color"))))
    return sorted(out) or [(-math.inf, NAMED["green"])]


def threshold_color(panel: dict[str, Any], value: float) -> str:
    chosen = steps(panel)[0][1]
    for start, c in steps(panel):
        if value >= start:
            chosen = c
    return chosen


def reduce(points: Sequence[tuple[float, float]], calc: str) -> float | None:
    vals = [v for _, v in points if v is not None and not math.isnan(v)]
    if not vals:
        return None
    return {"mean": sum(vals) / len(vals), "max": max(vals), "min": min(vals), "sum": sum(vals),
            "first": vals[0], "firstNotNull": vals[0], "last": vals[-1], "count": float(len(vals)),
            "range": max(vals) - min(vals)}.get(calc, vals[-1])


def _num(v: Any, default: float) -> float:
    return float(v) if isinstance(v, int | float) else default


def _unit(panel: dict[str, Any]) -> str:
    return str(_defaults(panel).get("unit") or "short")


def _decimals(panel: dict[str, Any]) -> int | None:
    d = _defaults(panel).get("decimals")
    return int(d) if isinstance(d, int | float) else None


def fmt(panel: dict[str, Any], v: float) -> str:
    if _unit(panel) == "bool_yes_no":
        return "Yes" if v else "No"
    return format_value(_unit(panel), v, _decimals(panel))


def _style(ax: Axes, title: str) -> None:
    ax.set_facecolor(PANEL_BG)
    for spine in ax.spines.values():
        spine.set_color(GRID)
    ax.tick_params(colors=TEXT, labelsize=7)
    ax.set_title(esc(title), color=TEXT, fontsize=9, loc="left")


def _no_data(ax: Axes, note: str) -> None:
    ax.text(0.5, 0.5, esc(note or "No data"), color=TEXT, ha="center", va="center", transform=ax.transAxes, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def draw_timeseries(ax: Axes, panel: dict[str, Any], data: PanelData) -> None:
    d = _defaults(panel)
    custom = d.get("custom") or {}
    stacking = (custom.get("stacking") or {}).get("mode") or "none"
    series = [s for s in data.series if s.points]
    if not series:
        _no_data(ax, data.note)
        return
    from datetime import UTC, datetime

    import matplotlib.dates as mdates

    totals: dict[float, float] = {}
    for s in series:
        for t, v in s.points:
            totals[t] = totals.get(t, 0.0) + (v if not math.isnan(v) else 0.0)
    below: dict[float, float] = {}  # stacking: what the series drawn so far add up to, per timestamp
    for i, s in enumerate(series):
        xs = list(mdates.date2num([datetime.fromtimestamp(t, UTC) for t, _ in s.points]))
        ys = [v for _, v in s.points]
        c = PALETTE[i % len(PALETTE)]
        if stacking in ("normal", "percent"):
            if stacking == "percent":  # each series as its share of the total at that time
                ys = [v / totals[t] if totals.get(t) else 0.0 for (t, _), v in zip(s.points, ys, strict=True)]
            base = [below.get(t, 0.0) for t, _ in s.points]
            ys = [a + b for a, b in zip(ys, base, strict=True)]
            ax.fill_between(xs, base, ys, color=c, alpha=0.3, linewidth=0)
            below.update({t: y for (t, _), y in zip(s.points, ys, strict=True)})
        ax.plot(xs, ys, color=c, linewidth=1.5 * float(custom.get("lineWidth") or 1), label=esc(legend_name(s)))
    span = max(t for s in series for t, _ in s.points) - min(t for s in series for t, _ in s.points)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S" if span < 900 else "%H:%M", tz=UTC))
    mode = (custom.get("thresholdsStyle") or {}).get("mode") or "off"
    data_ylim = ax.get_ylim()
    if mode != "off":
        for start, c in steps(panel)[1:]:
            ax.axhline(start, color=c, linestyle="--" if "dashed" in mode else "-", linewidth=1)
            if "area" in mode:
                ax.axhspan(start, data_ylim[1], color=c, alpha=0.08)
    ax.set_ylim(data_ylim)  # as in Grafana, a threshold does not stretch the axis
    lo, hi = d.get("min"), d.get("max")
    if lo is not None or hi is not None:
        ax.set_ylim(bottom=lo, top=hi)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: esc(fmt(panel, v))))
    ax.grid(color=GRID, linewidth=0.5)
    if len(series) <= 12:
        leg = ax.legend(fontsize=6, loc="upper left", facecolor=PANEL_BG, edgecolor=GRID, labelcolor=TEXT)
        leg.get_frame().set_alpha(0.8)


def _values(panel: dict[str, Any], data: PanelData) -> list[tuple[str, float]]:
    calc = (((panel.get("options") or {}).get("reduceOptions") or {}).get("calcs") or ["lastNotNull"])[0]
    out = []
    for s in data.series:
        v = reduce(s.points, calc)
        if v is not None:
            out.append((legend_name(s), v))
    return out


def draw_stat(ax: Axes, panel: dict[str, Any], data: PanelData) -> None:
    vals = _values(panel, data)
    ax.set_xticks([])
    ax.set_yticks([])
    if not vals:
        _no_data(ax, data.note)
        return
    background = (panel.get("options") or {}).get("colorMode") == "background"
    for i, (name, v) in enumerate(vals[:6]):
        y = 1 - (i + 0.5) / min(len(vals), 6)
        c = threshold_color(panel, v)
        if background:
            ax.axhspan(y - 0.5 / len(vals), y + 0.5 / len(vals), color=c, alpha=0.9)
        ax.text(0.5, y, esc(fmt(panel, v)), color=TEXT if background else c, fontsize=20 if len(vals) == 1 else 12,
                ha="center", va="center", fontweight="bold", transform=ax.transAxes)
        if len(vals) > 1:
            ax.text(0.02, y, esc(name), color=TEXT, fontsize=6, va="center", transform=ax.transAxes)


def draw_gauge(ax: Axes, panel: dict[str, Any], data: PanelData) -> None:
    vals = _values(panel, data)
    d = _defaults(panel)
    lo, hi = _num(d.get("min"), 0.0), _num(d.get("max"), 100.0)
    ax.set_xlim(-1.2, 1.2)
    ax.set_ylim(-0.3, 1.2)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if not vals:
        _no_data(ax, data.note)
        return
    name, v = vals[0]
    span = hi - lo or 1.0
    for start, c in steps(panel):  # the threshold band around the arc
        a = max(lo, start)
        nxt = [s for s, _ in steps(panel) if s > start]
        b = min(hi, nxt[0]) if nxt else hi
        if b > a:
            ax.add_patch(Wedge((0, 0), 1.05, 180 - 180 * (b - lo) / span, 180 - 180 * (a - lo) / span, width=0.06, color=c))
    frac = min(max((v - lo) / span, 0.0), 1.0)
    ax.add_patch(Wedge((0, 0), 0.95, 180, 180, width=0.25, color=GRID))
    ax.add_patch(Wedge((0, 0), 0.95, 0, 180, width=0.25, color=GRID))
    ax.add_patch(Wedge((0, 0), 0.95, 180 - 180 * frac, 180, width=0.25, color=threshold_color(panel, v)))
    ax.text(0, 0.1, esc(fmt(panel, v)), color=threshold_color(panel, v), ha="center", fontsize=14, fontweight="bold")


def draw_bargauge(ax: Axes, panel: dict[str, Any], data: PanelData) -> None:
    vals = _values(panel, data)
    d = _defaults(panel)
    lo, hi = _num(d.get("min"), 0.0), _num(d.get("max"), 100.0)
    if not vals:
        _no_data(ax, data.note)
        return
    names = [n for n, _ in vals]
    nums = [v for _, v in vals]
    ax.barh(range(len(vals)), [min(max(v, lo), hi) - lo for v in nums], left=lo,
            color=[threshold_color(panel, v) for v in nums], height=0.6)
    ax.set_xlim(lo, hi)
    ax.set_yticks([])
    ax.invert_yaxis()
    for i, n in enumerate(names):  # Grafana puts each name above its bar
        ax.text(lo, i - 0.36, " " + esc(n), color=TEXT, fontsize=6, va="bottom", ha="left")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: esc(fmt(panel, v))))
    for i, v in enumerate(nums):
        ax.text(hi, i, " " + esc(fmt(panel, v)), color=threshold_color(panel, v), va="center", ha="right", fontsize=7)


def draw_text(ax: Axes, panel: dict[str, Any]) -> None:
    content = str((panel.get("options") or {}).get("content") or panel.get("content") or "")
    content = re.sub(r"[#*_`>]", "", content)
    ax.text(0.02, 0.95, esc("\n".join(line[:110] for line in content.splitlines()[:14])), color=TEXT, fontsize=6,
            va="top", ha="left", transform=ax.transAxes, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def draw_panel(ax: Axes, panel: dict[str, Any], data: PanelData, title: str | None = None) -> None:
    kind = panel.get("type")
    _style(ax, title if title is not None else str(panel.get("title") or ""))
    if kind == "row":
        ax.set_facecolor(BG)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        return
    {"timeseries": draw_timeseries, "graph": draw_timeseries, "stat": draw_stat, "singlestat": draw_stat,
     "gauge": draw_gauge, "bargauge": draw_bargauge}.get(str(kind), draw_timeseries)(ax, panel, data) \
        if kind != "text" else draw_text(ax, panel)


def _mark(fig: Figure, subtitle: str = "") -> None:
    fig.text(0.99, 0.005, esc(MARK + (f" · {subtitle}" if subtitle else "")), color="#8e8e8e", fontsize=7,
             ha="right", va="bottom")


def panel_figure(panel: dict[str, Any], data: PanelData, subtitle: str = "") -> Figure:
    fig = plt.figure(figsize=(8, 4), facecolor=BG)
    ax = fig.add_axes((0.1, 0.12, 0.86, 0.78))
    draw_panel(ax, panel, data)
    _mark(fig, subtitle)
    return fig


def before_after_figure(old: dict[str, Any] | None, new: dict[str, Any] | None, old_data: PanelData,
                        new_data: PanelData, subtitle: str = "") -> Figure:
    fig = plt.figure(figsize=(14, 4.4), facecolor=BG)
    for i, (label, panel, data) in enumerate((("before", old, old_data), ("after", new, new_data))):
        ax = fig.add_axes((0.06 + i * 0.5, 0.16, 0.41, 0.72))
        if panel is None:
            _style(ax, f"{label}: (no such panel)")
            _no_data(ax, "panel absent in this revision")
            continue
        draw_panel(ax, panel, data, f"{label}: {panel.get('title') or ''}")
        exprs = [str(t.get("expr") or "") for t in panel.get("targets") or [] if isinstance(t, dict)]
        if exprs:  # what each side queries: the change under review
            text = exprs[0] if len(exprs[0]) <= 110 else exprs[0][:107] + "…"
            more = f"  (+{len(exprs) - 1} more)" if len(exprs) > 1 else ""
            fig.text(0.06 + i * 0.5, 0.035, esc(text + more), color="#8e8e8e", fontsize=6, family="monospace")
    _mark(fig, subtitle)
    return fig


def overview_figure(dashboard: dict[str, Any], data: dict[int, PanelData], subtitle: str = "") -> Figure:
    """Every panel where its gridPos puts it (24 columns; one grid unit ~ 30 px as in Grafana)."""
    panels = [p for p in dashboard.get("panels") or [] if isinstance(p, dict)]
    bottom = max((int((p.get("gridPos") or {}).get("y", 0)) + int((p.get("gridPos") or {}).get("h", 1)) for p in panels),
                 default=1)
    width_in = 16.0
    height_in = max(3.0, bottom * 30 / 1400 * width_in)
    fig = plt.figure(figsize=(width_in, height_in + 0.6), facecolor=BG)
    fig.text(0.01, 1 - 0.25 / (height_in + 0.6), esc(str(dashboard.get("title") or "")), color=TEXT, fontsize=12,
             va="center")
    top = 1 - 0.5 / (height_in + 0.6)
    usable = top - 0.3 / (height_in + 0.6)
    for i, p in enumerate(panels):
        g = p.get("gridPos") or {}
        x, y, w, h = (int(g.get(k, d)) for k, d in (("x", 0), ("y", 0), ("w", 12), ("h", 8)))
        total_h = height_in + 0.6
        left, low = x / 24, top - (y + h) / bottom * usable
        cell_w, cell_h = w / 24, h / bottom * usable
        # room for the y tick labels, the x tick labels and the title, as a panel's own chrome
        lm = 0.045 if p.get("type") in ("timeseries", "graph", "bargauge") else 0.006
        bm = 0.25 / total_h if p.get("type") in ("timeseries", "graph", "bargauge") else 0.05 / total_h
        tm = 0.25 / total_h
        rect = (left + lm, low + bm, max(cell_w - lm - 0.006, 0.01), max(cell_h - bm - tm, 0.005))
        ax = fig.add_axes(rect)
        draw_panel(ax, p, data.get(i, PanelData()))
    _mark(fig, subtitle)
    return fig
