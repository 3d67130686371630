"""Benchmark: a week of 15 s samples (40,320 rows) through `tritonobs simulate`'s pure path.

Run: .venv/bin/python bench/simulate_week.py [--repeat N] [--plot week.png]
Prints the best wall time of parsing the CSV text and of the simulation (target: well under a second).
The trace is synthetic and deterministic: a diurnal load with weekday peaks and short bursts.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from tritonobs.hpa.manifest import parse_hpa
from tritonobs.hpa.simulate import SyncRow, parse_trace, simulate

WEEK_S = 7 * 24 * 3600
STEP_S = 15

MANIFEST = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: triton, namespace: triton-vllm}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: triton}
  minReplicas: 1
  maxReplicas: 20
  metrics:
  - type: Pods
    pods:
      metric: {name: tritonobs_waiting_requests}
      target: {type: AverageValue, averageValue: "2"}
  behavior:
    scaleUp:
      stabilizationWindowSeconds: 0
      selectPolicy: Max
      policies: [{type: Percent, value: 100, periodSeconds: 15}, {type: Pods, value: 4, periodSeconds: 15}]
    scaleDown:
      stabilizationWindowSeconds: 300
      selectPolicy: Max
      policies: [{type: Percent, value: 100, periodSeconds: 15}]
"""


def week_trace() -> str:
    lines = ["time_s,total_value"]
    for i in range(WEEK_S // STEP_S):
        t = i * STEP_S
        day = (t // 86400) % 7
        hour = (t % 86400) / 3600
        diurnal = max(0.0, math.sin(math.pi * (hour - 6) / 14)) if 6 <= hour <= 20 else 0.0
        weekday = 1.0 if day < 5 else 0.4
        burst = 12.0 if (i * 2654435761) % 997 < 6 else 0.0  # deterministic, sparse bursts
        lines.append(f"{t},{round(24 * diurnal * weekday + burst + 0.5, 3)}")
    return "\n".join(lines) + "\n"


def plot(rows: list[SyncRow], totals: tuple[float, ...], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = [r.time_s / 3600 for r in rows]
    fig, ax = plt.subplots(figsize=(12, 4))
    ax.plot(hours, totals[: len(rows)], lw=0.5, color="grey", label="total waiting (trace)")
    ax.step(hours, [r.replicas for r in rows], where="post", lw=1, color="tab:blue", label="replicas")
    ax.step(hours, [r.desired for r in rows], where="post", lw=0.5, color="tab:orange", alpha=0.6, label="desired")
    ax.set_xlabel("hours")
    ax.set_ylabel("requests / replicas")
    ax.set_title("simulated HPA over a week of 15 s samples")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--plot", type=Path, help="write a PNG of replicas over the week")
    args = ap.parse_args()
    spec = parse_hpa(MANIFEST, file="bench-hpa.yaml")
    text = week_trace()
    best_wall = best_cpu = best_parse = math.inf
    rows: list[SyncRow] = []
    for _ in range(args.repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        trace = parse_trace(text, file="week.csv")
        w1 = time.perf_counter()
        rows = simulate(spec, trace)
        w2, c2 = time.perf_counter(), time.process_time()
        best_parse, best_wall, best_cpu = min(best_parse, w1 - w0), min(best_wall, w2 - w0), min(best_cpu, c2 - c0)
    changes = sum(1 for a, b in zip(rows, rows[1:], strict=False) if a.replicas != b.replicas)
    print(f"samples: {len(trace.times)}  syncs: {len(rows)}  replica changes: {changes}  "
          f"max replicas: {max(r.replicas for r in rows)}")
    # CPU time too: on a shared machine the wall time also counts other processes' turns.
    print(f"parse + simulate: {best_wall * 1000:.0f} ms wall, {best_cpu * 1000:.0f} ms CPU "
          f"(parse alone {best_parse * 1000:.0f} ms; best of {args.repeat})")
    if args.plot:
        plot(rows, trace.totals, args.plot)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
