"""Previews drawn from a real Prometheus (backfilled with vLLM series at known rates): the values each
panel shows, formatted as Grafana formats them, and PNGs with the panel's colours."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from matplotlib import image as mpimg

from tests.conftest import REPO
from tritonobs import backfill
from tritonobs.cli import main
from tritonobs.lab.procs import processes_mentioning
from tritonobs.lab.prometheus_process import PrometheusProcess

pytestmark = pytest.mark.integration
NS = "triton-vllm"
# tokens per second per (model, pod), waiting requests, KV-cache usage
# powers of two: rate() arithmetic stays exact, so the expected text is Grafana's for the exact value
RATES = {("llama2", "p-0"): 128.0, ("llama2", "p-1"): 64.0, ("mistral7b", "p-0"): 32.0, ("mistral7b", "p-1"): 16.0}
WAITING = {("llama2", "p-0"): 3, ("llama2", "p-1"): 1, ("mistral7b", "p-0"): 0, ("mistral7b", "p-1"): 2}
KV = {("llama2", "p-0"): 0.42, ("llama2", "p-1"): 0.95, ("mistral7b", "p-0"): 0.1, ("mistral7b", "p-1"): 0.99}


def _openmetrics(start: float, end: float, step: float = 15.0) -> str:
    out = []
    times = [start + i * step for i in range(int((end - start) // step) + 1)]
    for name, kind in (("vllm:prompt_tokens", "counter"), ("nv_inference_request_success", "counter"),
                       ("vllm:num_requests_waiting", "gauge"), ("vllm:kv_cache_usage_perc", "gauge")):
        out.append(f"# TYPE {name} {kind}")
        for (model, pod), rate in RATES.items():
            labels = f'model="{model}",namespace="{NS}",pod="{pod}",version="1"'
            for t in times:
                if name == "vllm:prompt_tokens":
                    v = rate * (t - start)
                    out.append(f"vllm:prompt_tokens_total{{{labels}}} {v:.3f} {t:.3f}")
                elif name == "nv_inference_request_success":
                    out.append(f"nv_inference_request_success_total{{{labels}}} {t - start:.3f} {t:.3f}")
                elif name == "vllm:num_requests_waiting":
                    out.append(f"{name}{{{labels}}} {WAITING[(model, pod)]} {t:.3f}")
                else:
                    out.append(f"{name}{{{labels}}} {KV[(model, pod)]} {t:.3f}")
    out.append("# EOF")
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, float]]:
    run = tmp_path_factory.mktemp("review-prom")
    end = float(int(time.time()) - 60)
    prom = PrometheusProcess(run, scrape_interval="15s")
    try:
        backfill.backfill(_openmetrics(end - 1800, end), prom.tsdb_dir)
        prom.start()
        yield prom.url, end
    finally:
        prom.stop()
        assert not processes_mentioning([str(run)])


def test_preview_draws_the_values_the_panels_show(prometheus: tuple[str, float], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    url, end = prometheus
    out = tmp_path / "previews"
    with pytest.raises(SystemExit) as exc:  # the range ends with the data: no partial rate window at the end
        main(["preview", str(REPO / "dashboards" / "llm.json"), "--prometheus", url, "--from", "25m",
              "--to", f"{end + 0.5:.3f}", "--out", str(out)])
    assert exc.value.code in (0, None)
    summary = json.loads((out / "previews.json").read_text())
    panels = summary[str(REPO / "dashboards" / "llm.json")]["panels"]
    # sum by (model) (rate(...[$__rate_interval])): 128+64 and 32+16 tokens/s, unit suffix:tok/s
    # (Prometheus' extrapolation factor 60/45 is inexact: 47.99999... shows as "48.0", as Grafana shows it)
    prompt = panels["Prompt tokens"]
    assert set(prompt) == {"llama2", "mistral7b"}
    assert prompt["llama2"] in ("192 tok/s", "192.0 tok/s") and prompt["mistral7b"] in ("48 tok/s", "48.0 tok/s")
    assert panels["Waiting requests"] == {"llama2": "4", "mistral7b": "2"}
    # max by (model, pod), percentunit, legend "{{model}} {{pod}}"
    assert panels["KV-cache usage now"] == {"llama2 p-0": "42%", "llama2 p-1": "95%", "mistral7b p-0": "10%",
                                            "mistral7b p-1": "99%"}
    assert panels["llama2: time to first token"] == {}  # no histogram backfilled: drawn as "No data"
    png = mpimg.imread(out / "llm.overview.png")
    height, width = png.shape[:2]
    assert width == 1440 and height > 1000
    pixels = (png[..., :3] * 255).round().astype(int).reshape(-1, 3)

    def count(hex_rgb: int) -> int:
        want = [(hex_rgb >> 16) & 255, (hex_rgb >> 8) & 255, hex_rgb & 255]
        return int((abs(pixels - want).max(axis=1) <= 12).sum())

    assert count(0x7EB26D) > 300  # the first palette colour: series lines were drawn (thin, anti-aliased)
    assert count(0xF2495C) > 5000  # red: the KV-cache bars above 98 % take the red threshold
    assert count(0xFF9830) > 5000  # orange: the bars between 90 % and 98 %
    assert capsys.readouterr().out.endswith("llm.json, 4/16 panels drew data\n")


def test_diff_images_draw_the_changed_panel_from_data(prometheus: tuple[str, float], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The judged case: a commit changing a panel's query, an alert threshold and the HPA target; diff --images
    draws the changed panel before and after from the same Prometheus."""
    import shutil
    import subprocess

    from tests.conftest import DASHBOARDS, EXAMPLE
    from tests.test_review_diff import GIT, change_query_threshold_target

    url, end = prometheus
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(EXAMPLE, repo / "tritonobs.yaml")
    shutil.copytree(DASHBOARDS, repo / "dashboards", ignore=shutil.ignore_patterns("*.json", "kubernetes", "__pycache__"))
    for args in (["init", "-q", "-b", "main"], None, ["add", "-A"], ["commit", "-qm", "base"]):
        if args is None:
            with pytest.raises(SystemExit):
                main(["render", "--spec", str(repo / "tritonobs.yaml")])
            continue
        subprocess.run([*GIT, "-C", str(repo), *args], check=True, capture_output=True)
    change_query_threshold_target(repo)
    subprocess.run([*GIT, "-C", str(repo), "commit", "-qam", "change"], check=True, capture_output=True)
    capsys.readouterr()
    images = tmp_path / "images"
    with pytest.raises(SystemExit) as exc:
        main(["diff", "--repo", str(repo), "--base", "HEAD~1", "--head", "HEAD", "--images", str(images),
              "--prometheus", url, "--from", "25m", "--to", f"{end:.3f}"])
    assert exc.value.code in (0, None)
    assert "- preview: `llm--prompt-tokens.png`" in capsys.readouterr().out
    png = mpimg.imread(images / "llm--prompt-tokens.png")
    assert png.shape[:2] == (396, 1260)
    pixels = (png[..., :3] * 255).round().astype(int)
    green = (abs(pixels - [0x7E, 0xB2, 0x6D]).max(axis=2) <= 12)
    # both halves drew the llama2 series (before: pod/model selected by variable; after: namespace only)
    assert green[:, :630].sum() > 100 and green[:, 630:].sum() > 100
