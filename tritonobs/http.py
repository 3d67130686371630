"""The one HTTP policy for what tritonobs reads over HTTP: Prometheus, Triton's endpoints (lab probes,
`status`). One place decides timeouts, proxies and retries:

- timeout: every request has one (the caller's, else DEFAULT_TIMEOUT); nothing waits forever.
- proxy: the environment's proxy settings apply, except to loopback addresses (the lab's Prometheus and
  replicas), which an http_proxy must never capture.
- retry: only connections that never opened are retried (twice, 0.2 s then 0.4 s apart); a request that
  reached the server is not sent again. Probes that poll pass retries=0.
- auth: a requests auth object (e.g. SigV4 signing for Amazon Managed Prometheus) is passed through.

A connection that fails (refused, timed out, bad address) raises ExternalError naming the URL (exit 3);
an HTTP error status is an answer, returned to the caller.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from urllib3.util.retry import Retry

from tritonobs.core.errors import ExternalError

DEFAULT_TIMEOUT = 5.0
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class Unreachable(ExternalError):
    """No answer at all from `endpoint`; `reason` says why (refused, timed out, ...)."""

    def __init__(self, endpoint: str, reason: str) -> None:
        self.reason = reason
        super().__init__(endpoint, f"unreachable ({reason})")


def session(url: str, *, auth: AuthBase | None = None, retries: int = 2) -> requests.Session:
    """A session for the server at `url`, with the policy above."""
    s = requests.Session()
    s.auth = auth
    # trust_env=False ignores http_proxy/https_proxy (and netrc) for loopback servers only.
    s.trust_env = (urlsplit(url).hostname or "") not in LOOPBACK
    retry = Retry(total=retries, connect=retries, read=0, status=0, other=0, backoff_factor=0.2,
                  allowed_methods=None, raise_on_status=False)
    adapter = HTTPAdapter(max_retries=retry)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    return s


def fetch(s: requests.Session, method: str, url: str, *, timeout: float | None = None,
          params: list[tuple[str, str]] | None = None, data: dict[str, str] | list[tuple[str, str]] | None = None,
          ) -> tuple[int, bytes]:
    """(status, body) of one request; Unreachable when no answer came."""
    try:
        # No redirects: a signed request (SigV4) is never replayed to another address.
        r = s.request(method, url, params=params, data=data, timeout=timeout or DEFAULT_TIMEOUT,
                      allow_redirects=False)
    except requests.RequestException as e:
        raise Unreachable(url, _reason(e)) from None
    return r.status_code, r.content


def probe(url: str, *, timeout: float) -> tuple[int, bytes]:
    """One GET of a polled endpoint (lab replicas' readiness and metrics, `status`'s Triton endpoints): no retry,
    and a session of its own, closed after the call. A session shared by threads probing many ports (replicas come and go on new
    ports) has to evict connection pools, and urllib3-future, which grafana-client's niquests installs over
    urllib3, can block there for good: a whole `verify --lab --compare` run hung on it."""
    with session(url, retries=0) as s:
        return fetch(s, "GET", url, timeout=timeout)


def _reason(e: BaseException) -> str:
    """The socket's own words ("[Errno 111] Connection refused", "timed out"), not urllib3's wrappers."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [e]
    while stack:
        err = stack.pop()
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, OSError) and err.strerror:
            return f"[Errno {err.errno}] {err.strerror}" if err.errno else err.strerror
        if isinstance(err, TimeoutError) or "timed out" in str(err).lower():
            return "timed out"
        stack += [err.__cause__, err.__context__, getattr(err, "reason", None)]
        stack += [a for a in err.args if isinstance(a, BaseException)]
    return str(e) or e.__class__.__name__
