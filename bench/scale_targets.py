"""Benchmark: the scale-ahead targets of issue 13 (item 5), in the lab, reported as measured.

Run: .venv/bin/python bench/scale_targets.py [--time-factor 10] [--out out/scale-targets] [--signal NAME]
     [--ramp-policies reactive,predictive,warm] [--no-step]

1. A 2x ramp over 10 (scaled) minutes (`verify --lab --profile ramp --compare reactive,predictive`): the
   predictive floor with the spec's headroom should keep the client's TTFT p95 within the SLO at least 99% of
   the time at no more than 1.15x the oracle's GPU-hours.
2. A step (`verify --lab --profile step --compare reactive`): the reactive HPA's TTFT-over-SLO seconds should
   be no more than 1.2x the ideal reactive controller's.

The example spec's cold start (90 s launch + 240 s pull + 180 s load) is divided by the time factor with every
other duration. Writes targets.md and targets.json beside the two comparisons.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def run(args: list[str]) -> int:
    from tritonobs.cli import main

    try:
        main(args)
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-factor", type=float, default=10.0)
    ap.add_argument("--out", type=Path, default=REPO / "out" / "scale-targets")
    ap.add_argument("--spec", type=Path, default=REPO / "tritonobs.yaml")
    ap.add_argument("--signal", default=None, help="scale on this signal instead of the spec's")
    ap.add_argument("--ramp-policies", default="reactive,predictive,warm")
    ap.add_argument("--no-step", action="store_true", help="skip the step run")
    a = ap.parse_args()
    common = ["verify", "--lab", "--spec", str(a.spec), "--time-factor", f"{a.time_factor:g}"]
    common += ["--signal", a.signal] if a.signal else []
    runs = {"ramp": [*common, "--profile", "ramp", "--compare", a.ramp_policies, "--out", str(a.out / "ramp")]}
    if not a.no_step:
        runs["step"] = [*common, "--profile", "step", "--compare", "reactive", "--out", str(a.out / "step")]
    results: dict[str, Any] = {}
    for name, args in runs.items():
        code = run(args)
        doc = json.loads((a.out / name / "report.json").read_text())
        results[name] = {"exit": code, "command": "tritonobs " + " ".join(args[:-2]), "targets": [
            t for t in doc["targets"] if (name == "ramp") == (t["policy"] == "predictive")]}
    lines = ["# Scale-ahead targets (issue 13), as measured", ""]
    for name, r in results.items():
        lines += [f"## {name}: `{r['command']}` (exit {r['exit']})", "", "| target | measured | limit | met |",
                  "|---|---|---|---|"]
        for t in r["targets"]:
            measured = "—" if t["measured"] is None else f"{t['measured']:.3f}"
            lines.append(f"| {t['name']} ({t['policy']}) | {measured} | {t['kind']} {t['limit']:g} "
                         f"| {'yes' if t['met'] else 'no'} |")
        lines.append("")
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "targets.md").write_text("\n".join(lines))
    (a.out / "targets.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
