"""Load for Triton LLM models: the seed client done right, and an open/closed-loop load generator.

Library entry points: `LoadGenerator` + `LoadPlan` (asyncio), the profiles (`Constant`, `Step`, `Ramp`,
`Sine`, `Replay`), `run_client` for the seed client. The CLI wraps them as `tritonobs client` / `tritonobs load`.
"""

from tritonobs.load.generator import LoadGenerator, LoadPlan, LoadStats
from tritonobs.load.profiles import Constant, Profile, Ramp, Replay, Sine, Step, load_trace, parse_profile
from tritonobs.load.results import RequestRecord, RunResult, Summary, summarize

__all__ = [
    "Constant",
    "LoadGenerator",
    "LoadPlan",
    "LoadStats",
    "Profile",
    "Ramp",
    "Replay",
    "RequestRecord",
    "RunResult",
    "Sine",
    "Step",
    "Summary",
    "load_trace",
    "parse_profile",
    "summarize",
]
