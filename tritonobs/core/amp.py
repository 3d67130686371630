"""Amazon Managed Service for Prometheus (AMP): workspace ids, regions and URLs (pure, no network).

AWS generates workspace ids as `ws-` + a lowercase UUID (`ws-b1c2d3e4-5f60-4a7b-8c9d-0e1f2a3b4c5d`; moto
does the same, `ws-{uuid4}`). The service model allows any 1-64 characters, but a value of another shape is
a copy-paste slip (an ARN, an alias, the whole URL), so the spec and the CLI refuse it early with an example.
Regions come from botocore's own endpoint data for the `aps` service, in every partition, so a region AMP
does not serve (or a typo shaped like a region) is a spec error, not a DNS failure at query time.
"""

from __future__ import annotations

import functools
import re

from botocore.loaders import Loader

SERVICE = "aps"  # SigV4 signing name and endpoint prefix of AMP (botocore's `amp` client)
WORKSPACE_ID = re.compile(r"^ws-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
WORKSPACE_EXAMPLE = "ws-b1c2d3e4-5f60-4a7b-8c9d-0e1f2a3b4c5d"
# AMP query API paths the tritonobs client uses (AMP serves them under /workspaces/<id>).
QUERY_PATHS = ("/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels", "/api/v1/alerts",
               "/api/v1/rules", "/api/v1/metadata")


@functools.cache
def aps_regions() -> frozenset[str]:
    """Regions with an `aps` endpoint in botocore's endpoint data (all partitions; FIPS variants dropped)."""
    data = Loader().load_data("endpoints")
    regions: set[str] = set()
    for partition in data["partitions"]:
        service = partition["services"].get(SERVICE) or {}
        regions.update(r for r in service.get("endpoints", {}) if "fips" not in r)
    return frozenset(regions)


def workspace_problem(workspace_id: str) -> str | None:
    if WORKSPACE_ID.match(workspace_id):
        return None
    if workspace_id.startswith("arn:"):
        return f"an ARN, not a workspace id: write only the last part, e.g. {WORKSPACE_EXAMPLE}"
    return f"not an AMP workspace id: expected ws- and a lowercase UUID, e.g. {WORKSPACE_EXAMPLE}"


def region_problem(region: str) -> str | None:
    if region in aps_regions():
        return None
    near = sorted(r for r in aps_regions() if r.split("-")[0] == region.split("-")[0])[:4]
    hint = f" (e.g. {', '.join(near)})" if near else " (e.g. us-west-2)"
    return f"AMP (service aps) has no endpoint in region {region!r}: write a region it serves{hint}"


def endpoint(region: str) -> str:
    return f"https://aps-workspaces.{region}.amazonaws.com"


def workspace_url(region: str, workspace_id: str) -> str:
    """The workspace's Prometheus-compatible base URL: append /api/v1/query etc. (KEDA's `serverAddress`)."""
    return f"{endpoint(region)}/workspaces/{workspace_id}"


def workspace_arn(region: str, account: str, workspace_id: str, partition: str = "aws") -> str:
    return f"arn:{partition}:aps:{region}:{account}:workspace/{workspace_id}"
