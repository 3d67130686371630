"""Previews at the edge: fetch each panel's data (a Prometheus, or the lab brought up for it), draw, save.

`draw_dashboards` writes one overview PNG per dashboard (panels laid out by gridPos) and a previews.json
saying how many series each panel drew; `diff_images` writes a before/after PNG per changed panel, the
overview of each changed dashboard, and the HPA effect plot.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from tritonobs.core.errors import UsageError
from tritonobs.prom.client import PrometheusClient
from tritonobs.review import preview_draw as draw
from tritonobs.review.diff import ArtifactDiff
from tritonobs.review.hpa_effect import Effect
from tritonobs.review.preview_data import Window, panel_data, resolve_variables

NO_SOURCE = "no data source: pass --prometheus URL or --lab"
Fetch = Callable[[dict[str, Any], dict[str, Any]], draw.PanelData]  # (dashboard, panel) -> data


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "panel"


def fetcher(client: PrometheusClient | None, window: Window) -> Fetch:
    cache: dict[int, dict[str, str]] = {}

    def fetch(dashboard: dict[str, Any], panel: dict[str, Any]) -> draw.PanelData:
        if client is None:
            return draw.PanelData(note=NO_SOURCE)
        if id(dashboard) not in cache:
            cache[id(dashboard)] = resolve_variables(dashboard, client, window)
        return panel_data(panel, client, window, cache[id(dashboard)])
    return fetch


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, facecolor=fig.get_facecolor())
    plt.close(fig)
    return path


def _subtitle(window: Window | None, source: str) -> str:
    if window is None:
        return source
    span = time.strftime("%Y-%m-%d %H:%M", time.gmtime(window.start)) + "–" + time.strftime("%H:%M UTC", time.gmtime(window.end))
    return f"{source}, {span}"


def parse_to(text: str) -> float | None:
    """`--to`: now (default), a duration ago (`90s`), or unix seconds."""
    from tritonobs.core.inputs import parse_duration

    if text in ("", "now"):
        return None
    try:
        value = float(text)
        if value > 1e9:
            return value
    except ValueError:
        pass
    try:
        return time.time() - parse_duration(text)
    except ValueError:
        raise UsageError(f"--to {text!r}: write now, a duration ago (e.g. 5m) or unix seconds") from None


def draw_dashboards(dashboards: list[tuple[str, dict[str, Any]]], out: Path, fetch: Fetch, subtitle: str) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name, d in dashboards:
        panels = [p for p in d.get("panels") or [] if isinstance(p, dict)]
        data = {i: fetch(d, p) for i, p in enumerate(panels)}
        file = _save(draw.overview_figure(d, data, subtitle), out / f"{slug(Path(name).stem)}.overview.png")
        summary[name] = {"image": file.name, "panels": {
            str(p.get("title") or f"#{i}"): last_values(p, data[i]) for i, p in enumerate(panels)
            if p.get("type") not in ("row", "text")}}
    (out / "previews.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return summary


def last_values(panel: dict[str, Any], data: draw.PanelData) -> dict[str, str]:
    """Legend -> the last value drawn, as the panel formats it (what a reviewer reads off the image)."""
    out = {}
    for s in data.series:
        v = draw.reduce(s.points, "lastNotNull")
        if v is not None:
            out[draw.legend_name(s)] = draw.fmt(panel, v)
    return out


def _panel(d: dict[str, Any] | None, title: str) -> dict[str, Any] | None:
    for p in (d or {}).get("panels") or []:
        for q in [p, *(p.get("panels") or [])]:
            if isinstance(q, dict) and q.get("title") == title:
                return q
    return None


def _effect_png(eff: Effect, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(9, 3.6), facecolor="white")
    for side, c in ((eff.old, "#1F78C1"), (eff.new, "#E24D42")):
        ax.step([r.time_s / 60 for r in side.rows], [r.replicas for r in side.rows], where="post", color=c,
                label=f"{side.label}: target {side.target:g}/pod, {side.gpu_hours:g} GPU-h, "
                      f"{side.seconds_above_target:g} s above target")
    ax.set_xlabel("minutes into the trace")
    ax.set_ylabel("replicas")
    ax.set_title(f"HPA effect ({eff.metric}) — {eff.trace_name}", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.text(0.99, 0.01, "simulated by tritonobs' HPA engine; replicas ready at once", fontsize=6, ha="right")
    fig.tight_layout()
    return _save(fig, path)


def diff_images(diffs: list[ArtifactDiff], old: dict[str, str], new: dict[str, str], out: Path,
                eff: Effect | None, fetch: Fetch, subtitle: str) -> dict[str, list[str]]:
    shown: dict[str, list[str]] = {}
    for d in diffs:
        if d.kind == "dashboard":
            before = json.loads(old[d.path]) if d.path in old else None
            after = json.loads(new[d.path]) if d.path in new else None
            stem = slug(Path(d.path).stem)
            titles: dict[str, tuple[str | None, str | None]] = {}
            for c in d.changes:
                if not c.subject.startswith("panel "):
                    continue
                title = c.subject[len('panel "'):-1]
                old_title = c.old if c.field == "title" and c.what == "retitled" else title
                titles[title] = (str(old_title), title)
            for title, (old_title, new_title) in sorted(titles.items()):
                p_old, p_new = _panel(before, old_title or ""), _panel(after, new_title or "")
                fig = draw.before_after_figure(
                    p_old, p_new, fetch(before, p_old) if p_old and before else draw.PanelData(),
                    fetch(after, p_new) if p_new and after else draw.PanelData(), subtitle)
                shown.setdefault(d.path, []).append(_save(fig, out / f"{stem}--{slug(title)}.png").name)
            if after is not None:
                panels = [p for p in after.get("panels") or [] if isinstance(p, dict)]
                fig = draw.overview_figure(after, {i: fetch(after, p) for i, p in enumerate(panels)}, subtitle)
                shown.setdefault(d.path, []).append(_save(fig, out / f"{stem}.overview.png").name)
        elif d.kind in ("hpa", "keda") and eff is not None and "hpa-effect.png" not in [n for v in shown.values() for n in v]:
            shown.setdefault(d.path, []).append(_effect_png(eff, out / "hpa-effect.png").name)
    return shown


def with_source(prometheus: str | None, lab_spec: Path | None, since_s: float,
                job: Callable[[Fetch, str], Any], scrape_s: float = 15.0, end: float | None = None) -> Any:
    """Run `job(fetch, subtitle)` with data from a Prometheus, from a lab brought up (and stopped) for it,
    or from nothing (images say so)."""
    if prometheus and lab_spec is not None:
        raise UsageError("--prometheus and --lab: pick one")
    if prometheus:
        end = time.time() if end is None else end
        w = Window(end - since_s, end, scrape_s)
        return job(fetcher(PrometheusClient(prometheus), w), _subtitle(w, prometheus))
    if lab_spec is not None:
        from tritonobs.cli.options import load_stack
        from tritonobs.lab.lab_stack import lab_variant
        from tritonobs.lab.run import run_lab

        stack = load_stack(lab_spec)
        result: list[Any] = []
        started = time.time()

        def on_done(url: str) -> None:
            w = Window(started, time.time(), lab_variant(stack).scrape_seconds)
            result.append(job(fetcher(PrometheusClient(url), w), _subtitle(w, "the lab's Prometheus")))

        run_lab(stack, model_repository=lab_spec.resolve().parent / stack.spec.model_repository.path, dashboards=[],
                duration=max(30.0, min(since_s, 120.0)), check=False, on_done=on_done)
        return result[0] if result else None
    return job(fetcher(None, Window(0, 1)), NO_SOURCE)
