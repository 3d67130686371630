"""kmock's KubernetesEmulator, extended with what a real API server does that tritonobs relies on.

kmock 0.8 (docs/facts.md) stores objects and serves get/list/watch/delete, but: a server-side apply on a missing
object 404s, `dryRun=All` changes state, there is no resourceVersion or managedFields, list ignores
labelSelector, and create answers 200. This subclass adds, the way kube-apiserver does it:

- server-side apply (`application/apply-patch+yaml`): creates when missing (201), tracks field ownership in
  `metadata.managedFields` (FieldsV1, lists atomic as in our CRDs/HPA), 409 on a conflict with another
  manager unless `force=true` (which takes ownership), removes fields the manager stopped applying, and
  skips no-op writes (the resourceVersion stays put), and treats a `metadata.resourceVersion` in the applied
  object as a precondition (409 "the object has been modified" when the live one is newer);
- `dryRun=All` on apply and delete: the answer is computed, nothing is stored;
- a cluster-wide resourceVersion counter bumped on every write; `generation` bumped on spec changes;
- list honours `labelSelector` (=, ==, !=, exists, !exists) and, like kube-apiserver's typed lists,
  items carry no apiVersion/kind;
- the custom metrics API (`custom.metrics.k8s.io/v1beta1`) for the pods metrics a test registers;
- pod logs (`GET .../pods/{name}/log`, text/plain) for the containers a test gives a log: 404 for a pod that
  is not there, 400 "waiting to start" for a container without one, as kube-apiserver answers;
- an authorization log: the (namespace, group, resource[/subresource], verb) the RBAC authorizer would
  check for each request, including `create` for an apply that creates an object.

It runs on its own asyncio loop in a thread so the synchronous official client can talk to it over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import threading
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp.web
import attrs
import kmock
from kmock._internal import rendering

Path = tuple[str, ...]
Authz = tuple[str | None, str, str, str]  # namespace (None = cluster), group, resource, verb
FIXED_TIME = "2024-01-01T00:00:00Z"


# --- field sets (FieldsV1) ---
def leaf_paths(obj: Any, prefix: Path = ()) -> set[Path]:
    """Paths a manager owns when it applies `obj`. Lists are atomic (owned as a whole)."""
    if isinstance(obj, dict) and obj:
        out: set[Path] = set()
        for key, value in obj.items():
            out |= leaf_paths(value, (*prefix, key))
        return out
    return {prefix}


def owned_paths(applied: dict[str, Any]) -> set[Path]:
    paths = set()
    for p in leaf_paths({k: v for k, v in applied.items() if k not in ("apiVersion", "kind", "status")}):
        if p[0] == "metadata" and (len(p) < 2 or p[1] not in ("labels", "annotations")):
            continue  # name/namespace identify the object; nobody "owns" them
        paths.add(p)
    return paths


def to_fields_v1(paths: set[Path]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path in sorted(paths):
        node = root
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return root


def from_fields_v1(fields: dict[str, Any], prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    for key, sub in fields.items():
        if not key.startswith("f:"):
            continue
        path = (*prefix, key[2:])
        out |= from_fields_v1(sub, path) if sub else {path}
    return out


_MISSING = object()


def get_path(obj: Any, path: Path) -> Any:
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return _MISSING
        obj = obj[part]
    return obj


def set_path(obj: dict[str, Any], path: Path, value: Any) -> None:
    for part in path[:-1]:
        if not isinstance(obj.get(part), dict):
            obj[part] = {}
        obj = obj[part]
    obj[path[-1]] = copy.deepcopy(value)


def del_path(obj: dict[str, Any], path: Path) -> None:
    parents = []
    node: Any = obj
    for part in path[:-1]:
        if not isinstance(node, dict) or part not in node:
            return
        parents.append((node, part))
        node = node[part]
    if isinstance(node, dict):
        node.pop(path[-1], None)
    for parent, part in reversed(parents):  # drop maps emptied by the removal
        if parent[part] == {} and part != "metadata":
            del parent[part]


def matches_selector(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _status(code: int, reason: str, message: str) -> aiohttp.web.Response:
    body = {"apiVersion": "v1", "kind": "Status", "status": "Failure", "code": code, "reason": reason, "message": message}
    return aiohttp.web.json_response(body, status=code)


def _print_manager(entry: dict[str, Any]) -> str:
    """apimachinery's printManager: the manager's name, quoted; an Update manager with the API version it
    wrote (the manager identifier carries no time, so none is printed)."""
    name = f'"{entry["manager"]}"'
    if entry.get("subresource"):
        name += f' with subresource "{entry["subresource"]}"'
    return f"{name} using {entry['apiVersion']}" if entry.get("operation") == "Update" else name


def conflict_message(conflicts: list[tuple[dict[str, Any], Path]]) -> str:
    """A real API server's wording (k8s.io/apimachinery/pkg/util/managedfields/internal/conflict.go,
    getConflictMessage): one conflict on one line, several grouped by manager (sorted), one path a line."""
    def path(p: Path) -> str:
        return "".join(f".{part}" for part in p)

    if len(conflicts) == 1:
        entry, p = conflicts[0]
        return f"Apply failed with 1 conflict: conflict with {_print_manager(entry)}: {path(p)}"
    by_manager: dict[str, list[str]] = {}
    for entry, p in conflicts:
        by_manager.setdefault(_print_manager(entry), []).append(path(p))
    lines = [line for manager in sorted(by_manager) for line in (f"conflicts with {manager}:", *(f"- {p}" for p in by_manager[manager]))]
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)


@attrs.define(kw_only=True)
class ApiServer(kmock.KubernetesEmulator):
    authz: list[Authz] = attrs.field(factory=list, init=False)
    # (namespace, metric) -> {pod name: quantity}: what prometheus-adapter would answer.
    pod_metrics: dict[tuple[str, str], dict[str, str]] = attrs.field(factory=dict, init=False)
    # Called after every stored write (stands in for controllers, e.g. the HPA controller's status).
    on_write: list[Callable[[ApiServer, Any, dict[str, Any]], None]] = attrs.field(factory=list, init=False)
    # (namespace, pod, container) -> the container's log, what the kubelet would stream.
    pod_logs: dict[tuple[str, str, str], str] = attrs.field(factory=dict, init=False)
    _rv: int = attrs.field(default=100, init=False)
    _uid: int = attrs.field(default=0, init=False)

    # --- helpers for tests ---
    def next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def seed(self, resource: str, obj: dict[str, Any], manager: str = "kubectl-client-side-apply") -> None:
        """Store an object as if `manager` had created it with an Update (e.g. helm, kubectl)."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        self._stamp(meta)
        meta.setdefault(
            "managedFields",
            [self._entry(manager, "Update", obj.get("apiVersion", ""), owned_paths(obj))],
        )
        self.objects[resource, meta.get("namespace"), meta["name"]] = obj

    def stored(self, resource: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        key = kmock.resource(resource), namespace, name
        if key not in self.objects or self.objects[key].deleted:
            return None
        return copy.deepcopy(self.objects[key].raw)

    def set_status(self, key: Any, status: dict[str, Any]) -> None:
        raw = copy.deepcopy(self.objects[key].raw)
        raw["status"] = status
        raw["metadata"]["resourceVersion"] = self.next_rv()
        self.objects[key].create(raw)

    def _stamp(self, meta: dict[str, Any]) -> None:
        self._uid += 1
        meta.setdefault("uid", f"00000000-0000-0000-0000-{self._uid:012d}")
        meta.setdefault("creationTimestamp", FIXED_TIME)
        meta["resourceVersion"] = self.next_rv()
        meta.setdefault("generation", 1)

    @staticmethod
    def _entry(manager: str, operation: str, api_version: str, paths: set[Path]) -> dict[str, Any]:
        return {
            "manager": manager,
            "operation": operation,
            "apiVersion": api_version,
            "time": FIXED_TIME,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(paths),
        }

    # --- request routing ---
    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        res = request.resource
        if res is not None and res.group == "custom.metrics.k8s.io" and not res.plural:
            return self._custom_metrics_discovery()
        if res is None or not res.plural:
            return await super()._handle(request)  # discovery, /version, non-resource paths
        self._record(request)
        if res.group == "custom.metrics.k8s.io":
            return self._custom_metrics(request)
        if res.plural == "pods" and request.subresource == "log" and request.action == kmock.action.FETCH:
            return self._pod_log(request)
        if not any(r == res for r in self._get_resources()):
            return _status(404, "NotFound", f"the server could not find the requested resource ({res.plural})")
        dry_run = request.params.get("dryRun") == "All"
        content_type = {k.lower(): v for k, v in request.headers.items()}.get("content-type", "")
        if request.action == kmock.action.UPDATE and "apply-patch" in content_type:
            async with self._lock:
                return self._apply(request, dry_run)
        if request.action == kmock.action.LIST:
            return self._list(request)
        if request.action == kmock.action.DELETE and dry_run:
            found = self.stored(self._res(request), request.namespace, str(request.name))
            return aiohttp.web.json_response(found) if found else _status(404, "NotFound", f"{request.name} not found")
        if request.action == kmock.action.CREATE and isinstance(request.data, dict):
            self._stamp(request.data.setdefault("metadata", {}))
            response = await super()._handle(request)
            if response.status == 200:
                response.set_status(201)  # a real API server answers 201 Created
            return response
        return await super()._handle(request)

    @staticmethod
    def _res(request: rendering.Request) -> str:
        r = request.resource
        assert r is not None
        return f"{r.group}/{r.version}/{r.plural}" if r.group else f"{r.version}/{r.plural}"

    def _record(self, request: rendering.Request) -> None:
        r = request.resource
        assert r is not None and r.plural
        resource = f"{r.plural}/{request.subresource}" if request.subresource else r.plural
        verbs: dict[Any, str] = {
            kmock.action.LIST: "list",
            kmock.action.WATCH: "watch",
            kmock.action.FETCH: "get",
            kmock.action.CREATE: "create",
            kmock.action.UPDATE: "patch",
            kmock.action.DELETE: "delete",
        }
        verb = verbs.get(request.action, str(request.method).lower())
        self.authz.append((request.namespace, str(r.group), resource, verb))

    # --- server-side apply ---
    def _apply(self, request: rendering.Request, dry_run: bool) -> aiohttp.web.Response:
        manager = request.params.get("fieldManager")
        if not manager:
            return _status(400, "BadRequest", "PATCH with apply-patch requires fieldManager")
        applied = request.data
        if not isinstance(applied, dict) or applied.get("metadata", {}).get("name") != request.name:
            return _status(400, "BadRequest", "the name in the body does not match the URL")
        force = request.params.get("force") == "true"
        key: Any = (request.resource, request.namespace, request.name)
        live = self.stored(self._res(request), request.namespace, str(request.name))
        paths = owned_paths(applied)
        if live is None:
            obj = copy.deepcopy(applied)
            meta = obj["metadata"]
            if request.namespace:
                meta["namespace"] = request.namespace
            meta["managedFields"] = [self._entry(manager, "Apply", applied["apiVersion"], paths)]
            # The RBAC authorizer checks `create` too when an apply creates the object.
            self.authz.append((request.namespace, str(request.resource.group), str(request.resource.plural), "create"))  # type: ignore[union-attr]
            if dry_run:
                meta.update(uid="dry-run", creationTimestamp=FIXED_TIME, generation=1)
                return aiohttp.web.json_response(obj, status=201)
            self._stamp(meta)
            self.objects[key] = obj
            self._notify(key)
            return aiohttp.web.json_response(self.stored(self._res(request), request.namespace, str(request.name)), status=201)

        wanted_rv = (applied.get("metadata") or {}).get("resourceVersion")
        if wanted_rv and wanted_rv != live["metadata"].get("resourceVersion"):
            r = request.resource
            return _status(409, "Conflict", f'Operation cannot be fulfilled on {r.plural if r else "objects"} '  # type: ignore[union-attr]
                           f'"{request.name}": the object has been modified; please apply your changes to the '
                           "latest version and try again")
        entries = copy.deepcopy(live["metadata"].get("managedFields") or [])
        conflicts = []
        for entry in entries:
            if entry["manager"] == manager:
                continue
            for p in sorted(from_fields_v1(entry.get("fieldsV1") or {}) & paths):
                if get_path(live, p) != get_path(applied, p):
                    conflicts.append((entry, p))
        if conflicts and not force:
            return _status(409, "Conflict", conflict_message(conflicts))
        for entry, p in conflicts:  # force: the applier takes ownership
            owned = from_fields_v1(entry["fieldsV1"]) - {p}
            entry["fieldsV1"] = to_fields_v1(owned)
        mine = next((e for e in entries if e["manager"] == manager and e["operation"] == "Apply"), None)
        previous = from_fields_v1(mine["fieldsV1"]) if mine else set()
        others = set().union(*(from_fields_v1(e["fieldsV1"]) for e in entries if e is not mine))
        obj = copy.deepcopy(live)
        for p in previous - paths - others:
            del_path(obj, p)
        for p in paths:
            set_path(obj, p, get_path(applied, p))
        entries = [e for e in entries if e is not mine and e.get("fieldsV1")]
        entries.append(self._entry(manager, "Apply", applied["apiVersion"], paths))
        obj["metadata"]["managedFields"] = entries
        if obj == live:
            return aiohttp.web.json_response(live)  # no-op: nothing written, resourceVersion unchanged
        if obj.get("spec") != live.get("spec"):
            obj["metadata"]["generation"] = int(live["metadata"].get("generation", 1)) + 1
        if dry_run:
            return aiohttp.web.json_response(obj)
        obj["metadata"]["resourceVersion"] = self.next_rv()
        self.objects[key].create(obj)  # a new version replacing the old one (history kept for tests)
        self._notify(key)
        return aiohttp.web.json_response(self.stored(self._res(request), request.namespace, str(request.name)))

    def _notify(self, key: Any) -> None:
        for hook in self.on_write:
            hook(self, key, copy.deepcopy(self.objects[key].raw))

    # --- list with label selectors ---
    def _list(self, request: rendering.Request) -> aiohttp.web.Response:
        selector = request.params.get("labelSelector", "")
        items = []
        for (resource, namespace, _), obj in list(self.objects.items()):
            if resource != request.resource or obj.deleted:
                continue
            if request.namespace is not None and namespace != request.namespace:
                continue
            raw = copy.deepcopy(obj.raw)
            if selector and not matches_selector((raw.get("metadata") or {}).get("labels") or {}, selector):
                continue
            items.append({k: v for k, v in raw.items() if k not in ("apiVersion", "kind")})
        r = request.resource
        assert r is not None
        items.sort(key=lambda i: (i["metadata"].get("namespace") or "", i["metadata"]["name"]))
        return aiohttp.web.json_response(
            {
                "apiVersion": f"{r.group}/{r.version}" if r.group else r.version,
                "kind": "List",
                "metadata": {"resourceVersion": str(self._rv)},
                "items": items,
            }
        )

    # --- pod logs ---
    def _pod_log(self, request: rendering.Request) -> aiohttp.web.Response:
        ns, name = str(request.namespace), str(request.name)
        pod = self.stored("v1/pods", ns, name)
        if pod is None:
            return _status(404, "NotFound", f'pods "{name}" not found')
        containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        container = request.params.get("container") or (containers[0] if len(containers) == 1 else "")
        if not container:
            return _status(400, "BadRequest", f"a container name must be specified for pod {name}")
        if containers and container not in containers:
            return _status(400, "BadRequest", f"container {container} is not valid for pod {name}")
        text = self.pod_logs.get((ns, name, container))
        if text is None:
            return _status(400, "BadRequest", f'container "{container}" in pod "{name}" is waiting to start: '
                           "ContainerCreating")
        return aiohttp.web.Response(text=text, content_type="text/plain")

    # --- custom metrics API (what prometheus-adapter serves) ---
    def _custom_metrics_discovery(self) -> aiohttp.web.Response:
        """kube-aggregator: 404 when the APIService is not registered, else the adapter's resource list."""
        registered = self.stored("apiregistration.k8s.io/v1/apiservices", None, "v1beta1.custom.metrics.k8s.io")
        if registered is None:
            return _status(404, "NotFound", "the server could not find the requested resource")
        names = sorted(f"pods/{metric}" for (_, metric) in self.pod_metrics)
        return aiohttp.web.json_response(
            {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": "custom.metrics.k8s.io/v1beta1",
                "resources": [{"name": n, "namespaced": True, "kind": "MetricValueList", "verbs": ["get"]} for n in names],
            }
        )

    def _custom_metrics(self, request: rendering.Request) -> aiohttp.web.Response:
        metric = request.subresource or ""
        values = self.pod_metrics.get((str(request.namespace), metric))
        if values is None:
            return _status(404, "NotFound", f"the server could not find the metric {metric} for pods")
        selector = request.params.get("labelSelector", "")
        items = []
        for pod, value in sorted(values.items()):
            labels = (self.stored("v1/pods", request.namespace, pod) or {}).get("metadata", {}).get("labels") or {}
            if selector and not matches_selector(labels, selector):
                continue
            items.append(
                {
                    "describedObject": {"kind": "Pod", "namespace": request.namespace, "name": pod, "apiVersion": "/v1"},
                    "metricName": metric,
                    "timestamp": FIXED_TIME,
                    "value": value,
                }
            )
        return aiohttp.web.json_response({"kind": "MetricValueList", "apiVersion": "custom.metrics.k8s.io/v1beta1", "items": items})


@contextlib.contextmanager
def serving(handler: ApiServer) -> Iterator[str]:
    """Run the emulator on 127.0.0.1:<free port> in a background loop; yields its base URL."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-apiserver", daemon=True)
    thread.start()
    stack = contextlib.AsyncExitStack()

    async def start() -> str:
        await stack.enter_async_context(handler)
        server = await stack.enter_async_context(kmock.Server(handler, host="127.0.0.1"))
        return str(server.url).rstrip("/")

    try:
        url = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
        yield url
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stack.aclose(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
