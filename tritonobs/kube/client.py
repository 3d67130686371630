"""A thin, typed layer over the official client's `ApiClient`: raw JSON in and out, errors mapped.

Raw calls (not the generated typed APIs) because apply sends `application/apply-patch+yaml` for custom
resources too, and every object is a plain dict rendered by tritonobs. Every error leaves this module as
one of `kube.errors` (endpoint named), never as a urllib3/ApiException traceback.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import urllib3
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from tritonobs.core.errors import ExternalError
from tritonobs.core.kinds import FIELD_MANAGER, Kind
from tritonobs.kube import errors

JsonObj = dict[str, Any]
APPLY_PATCH = "application/apply-patch+yaml"
# (connect, read) seconds: an unreachable cluster fails fast instead of hanging the CLI.
TIMEOUT = (5.0, 30.0)

_BY_STATUS: dict[int, type[errors.ApiError]] = {
    400: errors.Invalid,
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.Conflict,
    422: errors.Invalid,
}


class Kube:
    """One cluster connection. `endpoint` is what errors name (the API server URL)."""

    def __init__(self, api: ApiClient, endpoint: str) -> None:
        self.api = api
        self.endpoint = endpoint
        self._discovery: dict[str, JsonObj | None] = {}

    def request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        elif body is not None:
            headers["Content-Type"] = "application/json"
        _, url, headers, body, _ = self.api.param_serialize(
            method, path, query_params=query or [], header_params=headers, body=body, auth_settings=["BearerToken"]
        )
        try:
            resp = self.api.call_api(method, url, header_params=headers, body=body, _request_timeout=TIMEOUT)
            resp.read()
        except ApiException as e:  # status 0: TLS failure before any HTTP exchange
            raise ExternalError(self.endpoint, f"unreachable: {_first_line(e.reason)}") from None
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise ExternalError(self.endpoint, f"unreachable: {_first_line(str(e))}") from None
        text = (resp.data or b"").decode("utf-8", errors="replace")
        if not 200 <= resp.status <= 299:
            raise _api_error(self.endpoint, resp.status, str(resp.reason), text, method, path)
        try:
            return json.loads(text) if text else None
        except ValueError:  # e.g. an HTML page from a proxy in front of the API server
            raise ExternalError(self.endpoint, f"{method} {path}: not a Kubernetes API answer") from None

    # --- objects ---
    def get(self, kind: Kind, name: str, namespace: str | None = None) -> JsonObj | None:
        try:
            obj: JsonObj = self.request("GET", kind.path(name, namespace))
        except errors.NotFound:
            return None
        return obj

    def list(self, kind: Kind, namespace: str | None = None, label_selector: str | None = None) -> list[JsonObj]:
        query = [("labelSelector", label_selector)] if label_selector else []
        body = self.request("GET", kind.collection(namespace), query=query)
        return list(body.get("items") or [])

    def apply(self, kind: Kind, obj: JsonObj, *, dry_run: bool = False, force: bool = False) -> JsonObj:
        meta = obj["metadata"]
        query = [("fieldManager", FIELD_MANAGER)]
        if force:
            query.append(("force", "true"))
        if dry_run:
            query.append(("dryRun", "All"))
        result: JsonObj = self.request(
            "PATCH", kind.path(meta["name"], meta.get("namespace")), query=query, body=obj, content_type=APPLY_PATCH
        )
        return result

    def delete(self, kind: Kind, name: str, namespace: str | None = None, *, dry_run: bool = False) -> None:
        query = [("dryRun", "All")] if dry_run else []
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        with contextlib.suppress(errors.NotFound):  # already gone: the goal of a delete is met
            self.request("DELETE", kind.path(name, namespace), query=query, body=body)

    # --- discovery ---
    def discover(self, base: str) -> JsonObj | None:
        """The APIResourceList of `/api/v1` or `/apis/<group>/<version>`; None when the group is not served."""
        if base not in self._discovery:
            try:
                self._discovery[base] = self.request("GET", base)
            except errors.NotFound:
                self._discovery[base] = None
        return self._discovery[base]

    def served(self, kind: Kind) -> bool:
        listing = self.discover(kind.base) or {}
        return any(r.get("name") == kind.plural for r in listing.get("resources") or [])

    def version(self) -> JsonObj:
        """GET /version: the cheapest proof the API server is reachable and accepts our credentials."""
        result: JsonObj = self.request("GET", "/version")
        return result


def _first_line(text: str | None) -> str:
    lines = (text or "no detail").strip().splitlines()
    return lines[0] if lines else "no detail"


def _api_error(endpoint: str, status: int, reason: str, text: str, method: str, path: str) -> errors.ApiError:
    message = text.strip()
    try:
        parsed = json.loads(text)
        if isinstance(parsed, dict) and parsed.get("message"):
            message = str(parsed["message"])
            reason = str(parsed.get("reason") or reason)
    except ValueError:
        pass
    cls = _BY_STATUS.get(status, errors.ApiError)
    message = _first_line(message) if message else f"{method} {path}"
    if cls is errors.Unauthorized:
        message += " (credentials rejected: expired token, wrong cluster, or no access entry for this identity)"
    if cls is errors.Forbidden:
        message += " (`tritonobs rbac --subject ...` renders the Role this command needs)"
    return cls(endpoint, status, reason, message)
