"""The stack as the lab runs it: same spec, monitoring timings scaled down to a 1 s scrape.

The rendered rules derive their rate windows from the scrape interval (4 scrapes), so a 1 s scrape gives
4 s windows and the lab's signals react in seconds instead of minutes. Everything else (names, models,
targets, thresholds) stays as in the spec, so the lab exercises the queries that will run in production.
"""

from __future__ import annotations

from tritonobs.core.config import duration_seconds
from tritonobs.core.model import Stack, resolve

LAB_SCRAPE_INTERVAL = "1s"


def lab_variant(stack: Stack, scrape_interval: str = LAB_SCRAPE_INTERVAL) -> Stack:
    duration_seconds(scrape_interval)  # raises ValueError on a bad duration
    spec = stack.spec
    monitoring = spec.monitoring.model_copy(
        update={"scrape_interval": scrape_interval, "adapter_relist_interval": scrape_interval}
    )
    return resolve(spec.model_copy(update={"monitoring": monitoring}))


def lab_pod_name(stack: Stack, index: int) -> str:
    """Pod-like name of lab replica `index`, as file_sd labels it (what `pod` reads in every query)."""
    return f"{stack.spec.triton.deployment}-lab-{index}"
