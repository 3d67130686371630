"""Keep a load generator's targets equal to the Ready Triton pods, through the DNS of a headless Service.

A ClusterIP Service balances gRPC per connection, when the connection opens: pods that become Ready later
never see the connections opened before them, so a scaled-up Deployment would stay idle. A headless Service
answers DNS with the IPs of its Ready pods (terminating pods leave it), so resolving it every few seconds
and handing the set to `LoadGenerator.set_targets` sends new requests to every Ready pod, as the lab does.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Sequence

Resolve = Callable[[str, int], list[str]]


def split_host_port(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"{address!r}: expected HOST:PORT (e.g. triton-grpc.triton-vllm.svc.cluster.local:8001)")
    return host, int(port)


def resolve_ipv4(host: str, port: int) -> list[str]:
    """Every `ip:port` the name resolves to, sorted (an empty list when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, port, family=socket.AF_INET, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return []
    return sorted({f"{info[4][0]}:{port}" for info in infos})


async def follow(
    address: str,
    set_targets: Callable[[Sequence[str]], None],
    stop: asyncio.Event,
    *,
    every_s: float = 2.0,
    resolve: Resolve = resolve_ipv4,
) -> None:
    """Re-resolve `address` every `every_s` until `stop`; call `set_targets` when the set changes."""
    host, port = split_host_port(address)
    current: list[str] = []
    while not stop.is_set():
        found = await asyncio.to_thread(resolve, host, port)
        if found and found != current:  # an empty answer (DNS hiccup) keeps the last known set
            current = found
            set_targets(found)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_s)
