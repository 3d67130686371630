"""Preview drawing: Grafana's unit formatting (against Grafana's own test table), legends, thresholds, and
images that exist, are marked, and are not blank."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from matplotlib import image as mpimg

from tests.conftest import REPO
from tritonobs.review import preview_draw as draw
from tritonobs.review.preview_data import Window, substitute
from tritonobs.review.units import custom_unit_problem, format_value


# grafana/packages/grafana-data/src/valueFormats/valueFormats.test.ts (id, decimals, value, result)
@pytest.mark.parametrize(("unit", "decimals", "value", "text"), [
    ("ms", 4, 0.0024, "0.0024 ms"),
    ("ms", 0, 100, "100 ms"),
    ("ms", 2, 1250, "1.25 s"),
    ("ms", 0, 1200, "1 s"),
    ("short", 0, 98765, "99 K"),
    ("short", 0, 9876543, "10 Mil"),
    ("kbytes", 3, 10000000, "9.537 GiB"),
    ("deckbytes", 3, 10000000, "10.000 GB"),
    ("currencyUSD", 2, 1532.82, "$1.53K"),
])
def test_unit_formatting_matches_grafana(unit: str, decimals: int, value: float, text: str) -> None:
    assert format_value(unit, value, decimals) == text


@pytest.mark.parametrize(("unit", "value", "text"), [
    ("percentunit", 0.4213, "42.1%"),  # auto decimals: ~2 significant digits, 3 past 2.25
    ("percent", 99.5, "99.5%"),
    ("s", 0.0234, "23.4 ms"),
    ("s", 90, "1.50 mins"),  # current Grafana pluralises min/hour/day/week/year above 1
    ("suffix:tok/s", 12.5, "12.5 tok/s"),
    ("suffix: tok/s", 12.5, "12.5  tok/s"),  # the two spaces `unit-format` warns about
    ("prefix:$", 3, "$3"),
    ("reqps", 1500, "1.50 K req/s"),
    ("watt", 250, "250 W"),
    ("bytes", 1024, "1 KiB"),
    ("none", 7, "7"),
])
def test_unit_formatting_auto_decimals(unit: str, value: float, text: str) -> None:
    assert format_value(unit, value) == text


def test_custom_unit_problems() -> None:
    assert custom_unit_problem("suffix:tok/s") is None
    assert custom_unit_problem("short") is None
    assert custom_unit_problem("tok/s") == ("unit 'tok/s' is not a Grafana unit id: Grafana shows it as a custom "
                                            "suffix ('12.5 tok/s'); use a unit id, or 'suffix:tok/s' to say it is meant")


def test_legend_and_thresholds() -> None:
    s = draw.Series({"pod": "p-1", "model": "llama2"}, ((0, 1.0),), "A", "{{model}} on {{pod}}")
    assert draw.legend_name(s) == "llama2 on p-1"
    assert draw.legend_name(draw.Series({"__name__": "up", "job": "x"}, ())) == 'up{job="x"}'
    panel = {"fieldConfig": {"defaults": {"thresholds": {"steps": [
        {"color": "green", "value": None}, {"color": "orange", "value": 0.9}, {"color": "red", "value": 0.98}]}}}}
    assert [draw.threshold_color(panel, v) for v in (0.5, 0.9, 0.97, 0.99)] == [
        "#73BF69", "#FF9830", "#FF9830", "#F2495C"]


def test_variables_substituted_as_grafana_does() -> None:
    w = Window(1000.0, 4600.0, 15.0)  # one hour, 300 points: a 15 s interval at least
    values = {**w.builtins(), "namespace": "triton-vllm", "model": "(llama2|mistral7b)"}
    assert w.builtins()["__rate_interval"] == "60s"  # max(interval + scrape, 4 x scrape)
    assert w.builtins()["__range"] == "3600s"
    expr = 'sum(rate(x{namespace="$namespace", model=~"${model}"}[$__rate_interval])) / $__range_s'
    assert substitute(expr, values) == ('sum(rate(x{namespace="triton-vllm", model=~"(llama2|mistral7b)"}[60s])) '
                                        "/ 3600")


def test_overview_png_exists_is_marked_and_not_blank(tmp_path: Path) -> None:
    d = json.loads((REPO / "dashboards" / "llm.json").read_text())
    points = tuple((1000.0 + 15 * i, 0.5 + 0.01 * i) for i in range(40))
    data = {i: draw.PanelData((draw.Series({"model": "llama2", "pod": "p-0"}, points, "A", "{{model}} {{pod}}"),))
            for i in range(len(d["panels"]))}
    fig = draw.overview_figure(d, data, "test data")
    assert any(t.get_text().startswith(draw.MARK) for t in fig.texts)
    path = tmp_path / "llm.png"
    fig.savefig(path, dpi=90, facecolor=fig.get_facecolor())
    png = mpimg.imread(path)
    assert png.shape[1] == 1440
    assert len({tuple(px) for px in (png[..., :3] * 255).astype(int).reshape(-1, 3)[::5]}) > 50


def test_before_after_shows_both_queries() -> None:
    old = {"type": "timeseries", "title": "A", "targets": [{"expr": "rate(x[5m])"}]}
    new = {"type": "timeseries", "title": "A", "targets": [{"expr": "rate(x[$__rate_interval])"}]}
    fig = draw.before_after_figure(old, new, draw.PanelData(note="n"), draw.PanelData(note="n"))
    texts = [t.get_text() for t in fig.texts]
    assert "rate(x[5m])" in texts and r"rate(x[\$__rate_interval])" in texts  # `$` escaped: not math


def test_multi_value_regex_escaped_as_grafana_does() -> None:
    from tritonobs.review.preview_data import regex_escape

    # prometheusSpecialRegexEscape: '-' stays (PromQL rejects "\-"), '.' and '|' get a doubled backslash
    assert regex_escape("triton-lab-0") == "triton-lab-0"
    assert regex_escape("a.b|c") == "a\\\\.b\\\\|c"


@pytest.mark.parametrize(("mode", "tops"), [("none", [1.0, 3.0]), ("normal", [1.0, 4.0]), ("percent", [0.25, 1.0])])
def test_stacking(mode: str, tops: list[float]) -> None:
    import matplotlib.pyplot as plt

    panel = {"type": "timeseries", "fieldConfig": {"defaults": {"custom": {"stacking": {"mode": mode}}}}}
    data = draw.PanelData((draw.Series({"a": "1"}, ((0.0, 1.0), (15.0, 1.0))), draw.Series({"a": "2"}, ((0.0, 3.0), (15.0, 3.0)))))
    fig, ax = plt.subplots()
    draw.draw_timeseries(ax, panel, data)
    assert [float(line.get_ydata()[0]) for line in ax.get_lines()] == tops
    plt.close(fig)
