"""Read a Helm 3 release from the cluster the way `helm upgrade --reuse-values` does: no helm binary needed.

Helm stores each revision as a Secret `sh.helm.release.v1.<name>.v<revision>` (type `helm.sh/release.v1`;
with HELM_DRIVER=configmap, a ConfigMap of the same name) labelled `owner=helm`, `name`, `status`,
`version`. Its `release` entry is base64(gzip(JSON)) of the release (helm pkg/storage/driver/util.go), and a
Secret's data is base64 once more on the wire. The revision `upgrade` builds on is the last one when it is
deployed, else the last deployed one (pkg/action/upgrade.go prepareUpgrade); `--reuse-values` coalesces the
new values over that revision's user-supplied values (`config`), maps merged key by key and lists replaced.
"""

from __future__ import annotations

import base64
import binascii
import copy
import gzip
import json
from dataclasses import dataclass
from typing import Any

from tritonobs.core import kinds
from tritonobs.core.errors import ExternalError, UsageError
from tritonobs.kube.client import JsonObj, Kube

_GZIP_MAGIC = b"\x1f\x8b\x08"
PENDING = ("pending-install", "pending-upgrade", "pending-rollback")


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    revision: int
    status: str
    chart: str  # chart name, e.g. prometheus-adapter
    chart_version: str
    config: dict[str, Any]  # user-supplied values (what --reuse-values reuses)
    chart_values: dict[str, Any]  # the chart's own defaults at that revision
    storage: str  # "Secret monitoring/sh.helm.release.v1.x.v3", for messages

    @property
    def values(self) -> dict[str, Any]:
        """The effective values (`helm get values --all`): user values coalesced over the chart's."""
        return coalesce(self.config, self.chart_values)


def coalesce(dst: dict[str, Any], src: dict[str, Any]) -> dict[str, Any]:
    """Helm's CoalesceTables: `dst` wins; maps merge key by key; anything else (lists too) is replaced."""
    out = copy.deepcopy(src)
    for key, value in dst.items():
        if value is None:
            out.pop(key, None)  # a null in user values deletes the chart's key
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = coalesce(value, out[key])
        else:
            out[key] = copy.deepcopy(value)
    return out


def decode(text: str) -> dict[str, Any]:
    """A release from its storage string: base64, gzip (older Helm 3 did not compress), JSON."""
    raw = base64.b64decode(text, validate=True)
    if raw[:3] == _GZIP_MAGIC:
        raw = gzip.decompress(raw)
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("not a release object")
    return data


def _revision(item: JsonObj) -> int:
    try:
        return int(((item.get("metadata") or {}).get("labels") or {}).get("version", "0"))
    except ValueError:
        return 0


def _status(item: JsonObj) -> str:
    return str(((item.get("metadata") or {}).get("labels") or {}).get("status", ""))


def _current(items: list[JsonObj]) -> JsonObj:
    """The revision `helm upgrade` builds on (see the module docstring)."""
    ordered = sorted(items, key=_revision)
    last = ordered[-1]
    if _status(last) == "deployed":
        return last
    deployed = [i for i in ordered if _status(i) == "deployed"]
    return deployed[-1] if deployed else last


def find(kube: Kube, namespace: str, name: str) -> Release | None:
    """The release `name` in `namespace`, or None when Helm has no record of it there."""
    selector = f"owner=helm,name={name}"
    for kind in (kinds.SECRET, kinds.CONFIG_MAP):
        items = kube.list(kind, namespace, label_selector=selector)
        if items:
            break
    else:
        return None
    item = _current(items)
    status = _status(item)
    ref = f"{kind.kind} {namespace}/{(item.get('metadata') or {}).get('name')}"
    if status in PENDING:
        raise UsageError(
            f"Helm release {namespace}/{name} has an operation in progress ({status}, {ref}): "
            "wait for it to finish (or roll it back), then re-run apply"
        )
    text = str((item.get("data") or {}).get("release") or "")
    try:
        if kind is kinds.SECRET:
            text = base64.b64decode(text, validate=True).decode("ascii")
        data = decode(text)
    except (binascii.Error, UnicodeDecodeError, ValueError, OSError, EOFError) as e:
        raise ExternalError(kube.endpoint, f"{ref}: not a readable Helm release ({e})") from None
    chart = data.get("chart") or {}
    meta = chart.get("metadata") or {}
    return Release(
        name=name,
        namespace=namespace,
        revision=int(data.get("version") or _revision(item)),
        status=str((data.get("info") or {}).get("status") or status),
        chart=str(meta.get("name") or ""),
        chart_version=str(meta.get("version") or ""),
        config=dict(data.get("config") or {}),
        chart_values=dict(chart.get("values") or {}),
        storage=ref,
    )
