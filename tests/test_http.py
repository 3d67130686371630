"""tritonobs.http: the one HTTP policy (proxy, retry, auth, errors), against a real local HTTP server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from requests.auth import HTTPBasicAuth

from tritonobs import http
from tritonobs.prom.client import PrometheusClient

SEEN: list[dict[str, str]] = []


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        SEEN.append(dict(self.headers))
        body = b'{"status":"success","data":{"resultType":"vector","result":[]}}'
        self.send_response(200 if self.path.startswith("/api/") else 503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_loopback_ignores_the_environments_proxy(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{_closed_port()}")
    assert http.fetch(http.session(server), "GET", f"{server}/api/v1/x")[0] == 200


def test_remote_hosts_use_the_environments_proxy() -> None:
    assert http.session("http://prometheus.monitoring.svc:9090").trust_env
    assert not http.session("http://127.0.0.1:9090").trust_env


def test_error_status_is_an_answer(server: str) -> None:
    assert http.fetch(http.session(server), "GET", f"{server}/-/ready")[0] == 503


def test_no_answer_is_unreachable_naming_the_url() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/api/v1/query"
    with pytest.raises(http.Unreachable) as e:
        http.fetch(http.session(url, retries=0), "GET", url, timeout=2)
    assert e.value.exit_code == 3 and str(e.value).startswith(f"{url}: unreachable (")


def test_auth_object_reaches_the_server(server: str) -> None:
    """The Prometheus client passes a requests auth object through (e.g. SigV4 for Amazon Managed Prometheus)."""
    SEEN.clear()
    PrometheusClient(server, auth=HTTPBasicAuth("user", "pass")).query("up")
    assert SEEN[-1]["Authorization"] == "Basic dXNlcjpwYXNz"
