"""Start-up: how long `tritonobs --help` and `tritonobs validate` take, and which heavy packages they import.

Each command runs `--runs` times in a fresh interpreter (the first run is a warm-up and not counted: it fills
the page cache and __pycache__); the median and the spread of the wall times are reported. A second pass
under `python -X importtime` lists the heavy packages each command imports (none is the goal) and the
slowest top-level imports.

    .venv/bin/python bench/startup.py [--runs 15] [--spec tritonobs.yaml]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("kubernetes", "tritonclient", "boto3", "grpc", "matplotlib", "numpy")
TARGET_S = 0.4  # issue 12: `--help` under 0.4 s on this machine


def _argv(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "tritonobs", *args]


def wall_times(args: list[str], runs: int) -> list[float]:
    out = []
    for i in range(runs + 1):
        t0 = time.perf_counter()
        subprocess.run(_argv(args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        if i:  # run 0 is the warm-up
            out.append(time.perf_counter() - t0)
    return out


def imports(args: list[str]) -> tuple[set[str], list[tuple[float, str]]]:
    """Top-level packages imported, and (cumulative seconds, module) of the top-level imports."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *_argv(args)[1:]], capture_output=True, text=True,
                          check=True)
    packages: set[str] = set()
    top: list[tuple[float, str]] = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, raw = line.split("|")
        if not cumulative.strip().isdigit():
            continue  # the header line
        name = raw.strip()
        packages.add(name.split(".")[0])
        if not raw[1:].startswith(" "):  # nested imports are indented by two spaces a level
            top.append((int(cumulative) / 1e6, name))
    return packages, sorted(top, reverse=True)[:5]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--spec", type=Path, default=Path("tritonobs.yaml"))
    a = ap.parse_args()
    failed = False
    for args in (["--help"], ["validate", "--spec", str(a.spec)]):
        times = wall_times(args, a.runs)
        heavy, slowest = imports(args)
        heavy &= set(HEAVY)
        median = statistics.median(times)
        print(f"tritonobs {' '.join(args)}: median {median:.3f} s over {a.runs} runs "
              f"(min {min(times):.3f}, max {max(times):.3f})")
        print(f"  heavy packages imported: {', '.join(sorted(heavy)) or 'none'}")
        print("  slowest top-level imports: " + ", ".join(f"{name} {s:.3f} s" for s, name in slowest))
        failed |= bool(heavy)
        if args == ["--help"]:
            verdict = "met" if median < TARGET_S else "NOT met"
            print(f"  target --help < {TARGET_S} s: {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
