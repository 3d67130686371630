"""A small client for the Prometheus HTTP API (v1): instant and range queries, series, targets, reload.

This is an edge module: the only place tritonobs talks HTTP to Prometheus. A server that cannot be reached
(or answers something that is not the Prometheus API) raises `ExternalError` naming the URL (exit 3); a query
Prometheus rejects raises `QueryError`, which callers report per query instead of aborting.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from tritonobs.core.errors import ExternalError
from tritonobs.core.inputs import prometheus_url


class QueryError(Exception):
    """Prometheus answered, but refused the query (bad PromQL, too many points, timeout)."""

    def __init__(self, error_type: str, message: str) -> None:
        self.error_type = error_type
        super().__init__(f"{error_type}: {message}" if error_type else message)


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector (or the single value of a scalar, with no labels)."""

    labels: Mapping[str, str]
    value: float
    timestamp: float


@dataclass(frozen=True)
class RangeSeries:
    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]  # (unix seconds, value)

    def values(self) -> list[float]:
        return [v for _, v in self.points]


def _reason(e: requests.RequestException) -> str:
    # The innermost cause (connection refused, timed out), without urllib3's object reprs.
    inner: BaseException = e
    while inner.__context__ is not None and not isinstance(inner, (ConnectionRefusedError, TimeoutError)):
        inner = inner.__context__
    text = str(inner) or type(inner).__name__
    return text.split(": ", 1)[-1] if "object at 0x" in text else text


def _denied(raw: bytes) -> str:
    """AWS's refusal message ({"message": ...}), trimmed: it names the problem, never a secret."""
    try:
        doc = json.loads(raw)
        text = str(doc.get("message") or doc.get("Message") or doc.get("error") or "") if isinstance(doc, dict) else ""
    except ValueError:
        text = raw.decode("utf-8", errors="replace")
    text = " ".join(text.split())[:200]
    return f"access denied ({text})" if text else "access denied (check the credentials and the IAM policy: tritonobs iam)"


def _float(text: str) -> float:
    # Prometheus encodes values as strings, including "NaN", "+Inf" and "-Inf".
    return float(text)


class PrometheusClient:
    """`auth` signs every request (SigV4 for Amazon Managed Prometheus, tritonobs.aws.sigv4); a server that
    refuses it (401/403) is ExternalError naming the URL, like one that cannot be reached."""

    def __init__(self, url: str, timeout: float = 10.0, auth: requests.auth.AuthBase | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.auth = auth
        # requests would fail later with a bare exception: say what a Prometheus address looks like.
        prometheus_url(url)
        host = urllib.parse.urlsplit(self.url).hostname or ""
        self._http = requests.Session()
        # An http_proxy in the environment must not capture loopback traffic (the lab's Prometheus).
        self._http.trust_env = host not in ("127.0.0.1", "localhost", "::1")

    def _send(self, method: str, url: str, timeout: float, **kw: Any) -> requests.Response:
        return self._http.request(method, url, timeout=timeout, auth=self.auth, allow_redirects=False, **kw)

    # --- transport ---
    def _request(self, path: str, params: Sequence[tuple[str, str]] = (), method: str = "GET") -> Any:
        endpoint = f"{self.url}{path}"
        try:
            if method == "POST":
                # POST keeps long PromQL (adapter rules expanded for many pods) out of the URL length limit.
                resp = self._send("POST", endpoint, self.timeout, data=list(params))
            else:
                resp = self._send("GET", endpoint, self.timeout, params=list(params))
        except requests.RequestException as e:
            raise ExternalError(self.url, f"Prometheus unreachable ({_reason(e)})") from None
        raw = resp.content
        if resp.status_code in (401, 403):
            raise ExternalError(self.url, f"HTTP {resp.status_code} from {path}: {_denied(raw)}")
        if resp.status_code >= 400:
            # 400/422/503 carry the API's JSON error body: a refused query, not an unreachable server.
            try:
                doc = json.loads(raw)
            except ValueError:
                raise ExternalError(self.url, f"HTTP {resp.status_code} from {path} (is this a Prometheus server?)") from None
            if not isinstance(doc, dict):
                raise ExternalError(self.url, f"HTTP {resp.status_code} from {path} (is this a Prometheus server?)")
            raise QueryError(str(doc.get("errorType", "")), str(doc.get("error", f"HTTP {resp.status_code}")))
        try:
            doc = json.loads(raw)
        except ValueError:
            raise ExternalError(self.url, f"{path} did not answer JSON (is this a Prometheus server?)") from None
        if not isinstance(doc, dict) or doc.get("status") != "success":
            err = doc.get("error", "unknown error") if isinstance(doc, dict) else "unexpected answer"
            raise QueryError(str(doc.get("errorType", "")) if isinstance(doc, dict) else "", str(err))
        return doc.get("data")

    # --- health ---
    def ready(self) -> bool:
        """True when /-/ready answers 200 (TSDB loaded, rules loaded); False when not yet (never raises).
        AMP has no /-/ready (nor build info): a signed client asks a query instead."""
        if self.auth is not None:
            try:
                self.query("vector(1)")
                return True
            except (ExternalError, QueryError):
                return False
        try:
            return self._send("GET", f"{self.url}/-/ready", min(self.timeout, 2.0)).status_code == 200
        except requests.RequestException:
            return False

    def check(self) -> None:
        """Raise ExternalError naming the URL unless the server answers a query (reachable, and signed
        requests accepted)."""
        self.query("vector(1)")

    def reload(self) -> None:
        """Ask Prometheus to re-read its config and rule files (needs --web.enable-lifecycle)."""
        try:
            resp = self._send("POST", f"{self.url}/-/reload", self.timeout, data=b"")
        except requests.RequestException as e:
            raise ExternalError(self.url, f"reload failed ({_reason(e)})") from None
        if resp.status_code != 200:
            raise ExternalError(self.url, f"reload failed (HTTP {resp.status_code})")

    def alerts(self) -> list[dict[str, Any]]:
        """Active alerts (/api/v1/alerts; AMP serves it too)."""
        return list(self._request("/api/v1/alerts").get("alerts", []))

    # --- queries ---
    def query(self, expr: str, at: float | None = None) -> list[Sample]:
        params = [("query", expr)]
        if at is not None:
            params.append(("time", f"{at:.3f}"))
        data = self._request("/api/v1/query", params, method="POST")
        kind, result = data.get("resultType"), data.get("result")
        if kind == "vector":
            return [
                Sample(dict(r.get("metric", {})), _float(r["value"][1]), float(r["value"][0])) for r in result
            ]
        if kind == "scalar":
            return [Sample({}, _float(result[1]), float(result[0]))]
        raise QueryError("bad_data", f"expected an instant vector, got {kind}")

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[RangeSeries]:
        params = [("query", expr), ("start", f"{start:.3f}"), ("end", f"{end:.3f}"), ("step", f"{step:g}")]
        data = self._request("/api/v1/query_range", params, method="POST")
        if data.get("resultType") != "matrix":
            raise QueryError("bad_data", f"expected a range vector, got {data.get('resultType')}")
        return [
            RangeSeries(dict(r.get("metric", {})), tuple((float(t), _float(v)) for t, v in r.get("values", [])))
            for r in data.get("result", [])
        ]

    def series(self, match: str, start: float | None = None, end: float | None = None) -> list[dict[str, str]]:
        params = [("match[]", match)]
        if start is not None:
            params.append(("start", f"{start:.3f}"))
        if end is not None:
            params.append(("end", f"{end:.3f}"))
        return list(self._request("/api/v1/series", params, method="POST"))

    def targets(self) -> list[dict[str, Any]]:
        """Active scrape targets (labels, health, lastError)."""
        data = self._request("/api/v1/targets", [("state", "active")])
        return list(data.get("activeTargets", []))

    def rule_groups(self) -> list[dict[str, Any]]:
        return list(self._request("/api/v1/rules").get("groups", []))

