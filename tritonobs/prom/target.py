"""Which Prometheus a command reads, and how it signs: the one place commands get a PrometheusClient.

The spec decides: `monitoring.backend: prometheus` reads `monitoring.prometheus_url` unsigned; `amp` reads
`https://aps-workspaces.<region>.amazonaws.com/workspaces/<id>` signed with SigV4 (service `aps`) from the
standard AWS credential chain. `--prometheus-url` overrides the address (a port-forward, a test's signing
proxy) and keeps the spec's signing; `--sigv4-region` signs any address (an AMP-compatible endpoint without
an amp spec). A real AMP user sets the spec and passes nothing.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from tritonobs.core import amp
from tritonobs.core.config import Spec
from tritonobs.core.errors import UsageError
from tritonobs.core.inputs import prometheus_url
from tritonobs.prom.client import PrometheusClient


def base_url(spec: Spec) -> str:
    mon = spec.monitoring
    if mon.backend == "amp" and mon.amp is not None:
        return amp.workspace_url(mon.amp.region, mon.amp.workspace_id)
    return mon.prometheus_url


def signing_region(spec: Spec, sigv4_region: str | None) -> str | None:
    if sigv4_region is not None:
        check_region("--sigv4-region", sigv4_region)
        return sigv4_region
    mon = spec.monitoring
    return mon.amp.region if mon.backend == "amp" and mon.amp is not None else None


def check_region(option: str, region: str) -> str:
    problem = amp.region_problem(region)
    if problem:
        raise UsageError(f"{option}: {problem}")
    return region


def check_workspace_path(url: str) -> None:
    """An AMP-shaped URL (.../workspaces/<id>) names a well-formed workspace id (exit 2 otherwise)."""
    path = urlsplit(url).path.rstrip("/").split("/")
    if "workspaces" in path[:-1]:
        wid = path[path.index("workspaces") + 1]
        problem = amp.workspace_problem(wid)
        if problem:
            raise UsageError(f"Prometheus URL {url!r}: workspace {wid!r} is {problem}")


def client_for(spec: Spec | None, url: str | None = None, sigv4_region: str | None = None,
               timeout: float = 10.0) -> PrometheusClient:
    """The client for `url` (default: the spec's backend), signed when the backend is AMP or --sigv4-region."""
    if url is not None:
        prometheus_url(url)
        check_workspace_path(url)
    if sigv4_region is not None:
        check_region("--sigv4-region", sigv4_region)
    address = url or (base_url(spec) if spec is not None else None)
    if address is None:
        raise UsageError("say which Prometheus: --prometheus-url URL")
    region = signing_region(spec, sigv4_region) if spec is not None else sigv4_region
    auth = None
    if region is not None:
        from tritonobs.aws.sigv4 import from_default_chain

        auth = from_default_chain(region, address.rstrip("/"))
    return PrometheusClient(address, timeout=timeout, auth=auth)
