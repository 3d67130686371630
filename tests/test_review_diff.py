"""`tritonobs diff` on a temporary git repository with two commits: a change of a panel query, an alert
threshold and the HPA target is named change by change with the HPA effect; a whitespace-only spec commit
gives an empty diff. Also the workflow's commands (render --check, lint -o github, diff) in that repository."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from matplotlib import image as mpimg

from tests.conftest import DASHBOARDS, EXAMPLE, REPO
from tritonobs.cli import main

GIT = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]


def _run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(args)
    return int(exc.value.code or 0)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run([*GIT, "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    r.mkdir()
    shutil.copy(EXAMPLE, r / "tritonobs.yaml")
    shutil.copytree(DASHBOARDS, r / "dashboards", ignore=shutil.ignore_patterns("*.json", "kubernetes", "__pycache__"))
    # no package in the repository: both revisions render with the installed tritonobs
    _git(r, "init", "-q", "-b", "main")
    assert _run(["render", "--spec", str(r / "tritonobs.yaml")]) == 0
    _git(r, "add", "-A")
    _git(r, "commit", "-qm", "base")
    return r



PROMPT_SERIES = "series=[Series(dq.tokens_per_second(c.VLLM_PROMPT_TOKENS), BY_MODEL)]"


def change_query_threshold_target(repo: Path) -> None:
    """One commit: a panel's query (its source), an alert threshold and the HPA target (the spec)."""
    spec = repo / "tritonobs.yaml"
    text = spec.read_text()
    spec.write_text(text.replace("    waiting_requests: 2\n", "    waiting_requests: 4\n", 1)
                    .replace("  waiting_requests_high: 20\n", "  waiting_requests_high: 30\n", 1))
    src = repo / "dashboards" / "llm.dashboard.py"
    code = src.read_text()
    assert PROMPT_SERIES in code
    src.write_text(code.replace(PROMPT_SERIES, PROMPT_SERIES.replace(
        "c.VLLM_PROMPT_TOKENS)", "c.VLLM_PROMPT_TOKENS, ['namespace=\"$namespace\"'])")))
    assert _run(["render", "--spec", str(spec)]) == 0


def test_diff_names_each_change_with_hpa_effect(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    change_query_threshold_target(repo)
    _git(repo, "commit", "-qam", "target 4, alert at 30")
    capsys.readouterr()
    assert _run(["diff", "--repo", str(repo), "--base", "HEAD~1", "--head", "HEAD", "-o", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    changes = {(a["path"], c["subject"], c["field"], str(c["old"]), str(c["new"]))
               for a in data["artifacts"] for c in a["changes"]}
    assert ("adapter_rules/hpa.yaml", "hpa", "spec.metrics[0].pods.target.averageValue", "2", "4") in changes
    notes = {(a["path"], c["subject"], n) for a in data["artifacts"] for c in a["changes"] for n in c["notes"]}
    assert ("alerts/tritonobs-rules.yaml", "alert TritonVllmWaitingHigh", "number: -`20` +`30`") in notes
    titles = {(c["subject"], c["what"]) for a in data["artifacts"] for c in a["changes"]}
    assert ('panel "Waiting requests per pod (target 4)"', "retitled") in titles
    assert ("dashboards/llm.json", 'panel "Prompt tokens"', "matcher: -`vllm:prompt_tokens_total{model=~\"$model\"}` "
            "-`vllm:prompt_tokens_total{pod=~\"$pod\"}`") in notes
    eff = data["hpa_effect"]
    assert (eff["base"]["target"], eff["head"]["target"]) == (2.0, 4.0)
    # synthetic ramp to 8 waiting requests: 4 pods at target 2, 2 pods at target 4; 4 GPUs per pod
    assert (eff["base"]["max_replicas_reached"], eff["head"]["max_replicas_reached"]) == (4, 2)
    assert eff["head"]["gpu_hours"] < eff["base"]["gpu_hours"]
    assert _run(["diff", "--repo", str(repo), "--base", "HEAD~1", "--head", "HEAD"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("<!-- tritonobs-diff -->\n### tritonobs diff ")
    assert "| `adapter_rules/hpa.yaml` | changed |" in md
    assert "<details><summary><code>alerts/tritonobs-rules.yaml</code>" in md
    assert "| GPU-hours |" in md and "| seconds above target |" in md
    assert '-  20\n  +  30' in md
    # previews without a data source: drawn, and saying so
    images = tmp_path / "images"
    assert _run(["diff", "--repo", str(repo), "--base", "HEAD~1", "--head", "HEAD", "--images", str(images)]) == 0
    md = capsys.readouterr().out
    assert "- preview: `llm--prompt-tokens.png`" in md and "- preview: `hpa-effect.png`" in md
    assert sorted(p.name for p in images.iterdir()) == [
        "autoscaling--waiting-requests-per-pod-target-4.png", "autoscaling.overview.png", "hpa-effect.png",
        "llm--prompt-tokens.png", "llm.overview.png"]
    png = mpimg.imread(images / "llm--prompt-tokens.png")
    assert png.shape[:2] == (396, 1260)  # 14 x 4.4 in at 90 dpi: before | after


def test_whitespace_only_spec_change_is_an_empty_diff(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = repo / "tritonobs.yaml"
    spec.write_text(spec.read_text().replace("\nmodels:\n", "\n\n\nmodels:   \n", 1) + "\n\n")
    _git(repo, "commit", "-qam", "whitespace")
    assert _run(["diff", "--repo", str(repo), "--base", "HEAD~1", "--head", "HEAD", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["artifacts"] == []
    # the working tree (head by default) against the merge-base with main: also empty
    assert _run(["diff", "--repo", str(repo)]) == 0
    assert "No change to any rendered artifact" in capsys.readouterr().out


def test_panel_query_change_is_shown_by_token(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    llm = repo / "dashboards" / "llm.json"
    data = json.loads(llm.read_text())
    panel = next(p for p in data["panels"] if p.get("title") == "Prompt tokens")
    panel["targets"][0]["expr"] = panel["targets"][0]["expr"].replace('model=~"$model"', 'model="llama2"')
    llm.write_text(json.dumps(data, indent=2))
    from tritonobs.review.diff import diff_artifacts

    rendered_old = {"dashboards/llm.json": (REPO / "dashboards" / "llm.json").read_text()}
    rendered_new = {"dashboards/llm.json": llm.read_text()}
    (d,) = diff_artifacts(rendered_old, rendered_new)
    (c,) = d.changes
    assert (c.subject, c.field) == ('panel "Prompt tokens"', "query A")
    assert c.notes == ('matcher: -`vllm:prompt_tokens_total{model=~"$model"}` +`vllm:prompt_tokens_total{model="llama2"}`',)
    assert '-  rate(vllm:prompt_tokens_total{model=~"$model",namespace="$namespace",pod=~"$pod"}[$__rate_interval])' in c.detail


def test_noise_is_ignored() -> None:
    from tritonobs.review.diff import diff_artifacts

    base = json.loads((REPO / "dashboards" / "llm.json").read_text())
    noisy = json.loads(json.dumps(base))
    noisy["version"], noisy["id"], noisy["iteration"] = 42, 7, 1700000000
    for p in noisy["panels"]:
        p["pluginVersion"] = "12.2.0"
    assert diff_artifacts({"dashboards/llm.json": json.dumps(base)}, {"dashboards/llm.json": json.dumps(noisy)}) == []


def test_workflow_commands_on_a_pull_request(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The steps of .github/workflows/dashboard-review.yml, in order, on a two-commit repository."""
    workflow = (REPO / ".github" / "workflows" / "dashboard-review.yml").read_text()
    for step in ("tritonobs render --check", "tritonobs lint -o github", "tritonobs diff --base",
                 "<!-- tritonobs-diff -->", "actions/upload-artifact", "PATCH", "--images review/previews"):
        assert step in workflow, step
    spec = repo / "tritonobs.yaml"
    spec.write_text(spec.read_text().replace("    waiting_requests: 2\n", "    waiting_requests: 3\n", 1))
    _run(["render", "--spec", str(spec)])
    _git(repo, "commit", "-qam", "target 3")
    capsys.readouterr()
    assert _run(["render", "--spec", str(spec), "--check"]) == 0
    assert capsys.readouterr().out == "up to date: 24 artifacts\n"
    assert _run(["lint", "--spec", str(spec), "-o", "github"]) == 0
    assert capsys.readouterr().out == ""  # no annotations: the stack lints clean
    images = repo.parent / "review" / "previews"
    assert _run(["diff", "--repo", str(repo), "--base", "HEAD~1", "--images", str(images)]) == 0
    md = capsys.readouterr().out
    assert (images / "hpa-effect.png").is_file()
    assert "| `adapter_rules/hpa.yaml` | changed |" in md
    assert "- hpa: changed `spec.metrics[0].pods.target.averageValue`: `2` → `3`" in md


def test_bad_refs_are_one_line_exit_2(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["diff", "--repo", str(repo), "--base", "nosuchref"]) == 2
    assert capsys.readouterr().err == (f"error: --base nosuchref: no such revision in {repo} (a branch, tag or commit; "
                                       "fetch it first in a shallow clone)\n")
    assert _run(["diff", "--repo", str(repo.parent)]) == 2
    assert "not a git repository" in capsys.readouterr().err


def test_keda_change_is_replayed_through_the_hpa_keda_makes() -> None:
    from tests.conftest import variant_stack
    from tritonobs.core.render import keda
    from tritonobs.hpa.manifest import parse_hpa
    from tritonobs.review.hpa_effect import effect, keda_as_hpa

    stack = variant_stack("keda")
    (art,) = keda.render(stack)
    hpa = parse_hpa(keda_as_hpa(art.content))
    assert (hpa.min_replicas, hpa.max_replicas) == (1, 5)
    assert [(m.kind, m.target_type, m.target_milli) for m in hpa.metrics] == [("External", "AverageValue", 2000)]
    assert hpa.behavior is not None and hpa.behavior.scale_down.stabilization_window_seconds == 300
    doubled = art.content.replace("threshold: '2'", "threshold: '4'")
    assert doubled != art.content
    eff = effect(keda_as_hpa(art.content), keda_as_hpa(doubled), None, "", 4)
    assert eff is not None
    assert (eff.old.target, eff.new.target) == (2.0, 4.0)
    assert (eff.old.max_replicas_reached, eff.new.max_replicas_reached) == (4, 2)
