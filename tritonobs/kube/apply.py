"""The server-side-apply engine: ordered apply, outcome per object, dry-run diff, label-scoped prune.

Outcomes are decided by comparing the object before and after: an apply that changes nothing leaves the
resourceVersion alone (the API server skips no-op writes), so a second apply reports every object
unchanged. Prune only ever deletes objects carrying BOTH ownership labels of this stack that the current
spec no longer renders (the server-side label selector is double-checked client-side), never one a
controller made from our objects (KEDA's HPA carries the ScaledObject's labels), never one that
another field manager or a Helm release also manages (those are listed as kept), and never the shared
prometheus-adapter ConfigMap (kube/adapter.py edits only our rules in it).
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from tritonobs.core import kinds
from tritonobs.core.model import Stack
from tritonobs.kube import errors
from tritonobs.kube.adapter import protected
from tritonobs.kube.client import JsonObj, Kube

Outcome = Literal["created", "configured", "unchanged"]

# Dependency order: what scrapes and records first, what reads the metrics (HPA/KEDA) last.
_RANK = {
    kinds.SERVICE_MONITOR.kind: 0,
    kinds.PROMETHEUS_RULE.kind: 1,
    kinds.CONFIG_MAP.kind: 2,
    kinds.PRIORITY_CLASS.kind: 2,  # before the placeholder Deployment whose pods name it
    kinds.DEPLOYMENT.kind: 3,
    kinds.HPA.kind: 4,
    kinds.SCALED_OBJECT.kind: 4,
    kinds.TRIGGER_AUTHENTICATION.kind: 3,  # before the ScaledObject that refers to it
}
# Server-populated metadata: never part of what we compare or show in a diff.
_VOLATILE_META = ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink")
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@dataclass(frozen=True)
class Applied:
    ref: str  # "Kind namespace/name"
    outcome: Outcome
    diff: str = ""  # unified diff live -> would-be, filled on dry runs


def ordered(objects: Iterable[JsonObj]) -> list[JsonObj]:
    return sorted(objects, key=lambda o: _RANK.get(str(o.get("kind")), 2))


def check_labels(stack: Stack, objects: Iterable[JsonObj]) -> None:
    """Every object we send must carry both ownership labels, or a later prune could never find it."""
    for obj in objects:
        if not kinds.owned_by(obj, stack):
            raise errors.UnlabelledObject(
                f"{kinds.ref(obj)}: rendered without the labels {kinds.selector(stack)} (a renderer bug; nothing applied)"
            )


def normalized(obj: JsonObj | None) -> JsonObj:
    """The object as the user thinks of it: no server bookkeeping, no status."""
    if not obj:
        return {}
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out.get("metadata") or {}
    for key in _VOLATILE_META:
        meta.pop(key, None)
    annotations = meta.get("annotations") or {}
    annotations.pop(_LAST_APPLIED, None)
    if "annotations" in meta and not annotations:
        meta.pop("annotations")
    return out


def diff(ref: str, live: JsonObj | None, wanted: JsonObj) -> str:
    def text(o: JsonObj) -> list[str]:
        return yaml.safe_dump(o, sort_keys=True, default_flow_style=False, width=100).splitlines(keepends=True) if o else []

    return "".join(
        difflib.unified_diff(
            text(normalized(live)),
            text(normalized(wanted)),
            fromfile=f"{ref} (live)" if live else "/dev/null",
            tofile=f"{ref} (after apply)",
        )
    )


def _outcome(live: JsonObj | None, result: JsonObj, dry_run: bool) -> Outcome:
    if live is None:
        return "created"
    before = (live.get("metadata") or {}).get("resourceVersion")
    after = (result.get("metadata") or {}).get("resourceVersion")
    if not dry_run and before and after:
        return "unchanged" if before == after else "configured"
    # Dry runs (and servers without resourceVersions) are judged on content.
    return "unchanged" if normalized(live) == normalized(result) else "configured"


def apply_one(kube: Kube, obj: JsonObj, *, dry_run: bool, force: bool) -> Applied:
    kind = kinds.kind_of(obj)
    meta = obj["metadata"]
    ref = kinds.ref(obj)
    live = kube.get(kind, meta["name"], meta.get("namespace"))
    try:
        result = kube.apply(kind, obj, dry_run=dry_run, force=force)
    except errors.Conflict as e:
        if "has been modified" in e.api_message:  # the resourceVersion we read is no longer the live one
            raise errors.Modified(
                f"{ref}: changed on the server after tritonobs read it (someone else wrote it meanwhile); "
                "nothing of it was applied: re-run apply to merge into the new version"
            ) from None
        raise errors.ApplyConflict(
            f"{ref}: {e.api_message} — another field manager owns these fields; "
            "re-run with --force-conflicts to take them over"
        ) from None
    except errors.ApiError as e:
        raise type(e)(e.endpoint, e.status, e.reason, f"{ref}: {e.api_message}") from None
    outcome = _outcome(live, result, dry_run)
    return Applied(ref, outcome, diff(ref, live, result) if dry_run and outcome != "unchanged" else "")


def apply_all(
    kube: Kube, stack: Stack, objects: Sequence[JsonObj], *, dry_run: bool = False, force: bool = False
) -> list[Applied]:
    check_labels(stack, objects)
    return [apply_one(kube, obj, dry_run=dry_run, force=force) for obj in ordered(objects)]


def _key(kind: kinds.Kind, namespace: str | None, name: str) -> tuple[str, str, str, str]:
    return (kind.api_version, kind.kind, namespace or "", name)


@dataclass(frozen=True)
class Pruned:
    deleted: list[str]  # refs deleted (or, on a dry run, that would be)
    kept: list[tuple[str, str]]  # (ref, why): ours by label, but someone else manages it too


def shared_with(obj: JsonObj) -> str | None:
    """Why an object carrying our labels is not ours alone to delete, or None.

    A Helm release's object (annotation `meta.helm.sh/release-name`) is Helm's to delete. Another field
    manager owning content, beyond metadata (KEDA's finalizer) or status (the HPA controller), means
    someone else also manages it: an apply that adopted an existing object, or an edit since."""
    meta = obj.get("metadata") or {}
    release = (meta.get("annotations") or {}).get(kinds.HELM_RELEASE)
    if release:
        return f"Helm release {release!r} owns it"
    others = sorted(
        {
            str(entry.get("manager"))
            for entry in meta.get("managedFields") or []
            if entry.get("manager") != kinds.FIELD_MANAGER
            and any(key not in ("f:metadata", "f:status") for key in entry.get("fieldsV1") or {})
        }
    )
    return f"also managed by {', '.join(others)}" if others else None


def prune(kube: Kube, stack: Stack, objects: Sequence[JsonObj], *, dry_run: bool = False) -> Pruned:
    """Delete what this stack alone owns but no longer renders; keep (and report) what others manage too."""
    rendered = set()
    for obj in objects:
        meta = obj["metadata"]
        rendered.add(_key(kinds.kind_of(obj), meta.get("namespace"), meta["name"]))
    rendered |= {_key(kind, ns, name) for kind, ns, name in protected(stack)}
    pruned: list[str] = []
    kept: list[tuple[str, str]] = []
    # Scalers first, the things they read last: the reverse of the apply order.
    for kind in sorted(kinds.managed(stack), key=lambda k: -_RANK[k.kind]):
        if not kube.served(kind):
            continue  # e.g. no KEDA installed: nothing of that kind can exist
        for namespace in kinds.namespaces(stack, objects) if kind.namespaced else [None]:
            for item in kube.list(kind, namespace, label_selector=kinds.selector(stack)):
                meta = item.get("metadata") or {}
                if not kinds.owned_by(item, stack):
                    continue
                if _key(kind, meta.get("namespace") or namespace, meta["name"]) in rendered:
                    continue
                if any(owner.get("controller") for owner in meta.get("ownerReferences") or []):
                    # Made by a controller from one of our objects, labels copied (KEDA's keda-hpa-<name>
                    # from our ScaledObject): its controller and the garbage collector own its life.
                    continue
                ref = f"{kind.kind} {namespace}/{meta['name']}" if namespace else f"{kind.kind} {meta['name']}"
                why = shared_with(item)
                if why:
                    kept.append((ref, why))
                    continue
                kube.delete(kind, meta["name"], namespace, dry_run=dry_run)
                pruned.append(ref)
    return Pruned(pruned, kept)


def summary(results: Sequence[Applied], pruned: Pruned | None = None) -> dict[str, Any]:
    counts = {o: sum(1 for r in results if r.outcome == o) for o in ("created", "configured", "unchanged")}
    deleted = len(pruned.deleted) if pruned else 0
    kept = len(pruned.kept) if pruned else 0
    return {**counts, "pruned": deleted, "kept": kept, "objects": len(results)}
