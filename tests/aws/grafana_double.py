"""A tiny Grafana HTTP API double on 127.0.0.1: folders and dashboards/db, with basic/bearer auth.

It answers the way Grafana 10/11 does for the calls `grafana push` makes (shapes from the HTTP API docs):
GET /api/datasources, GET/POST /api/folders, POST /api/dashboards/db (version bumped per save, 412 on a uid clash without
overwrite), 401 with a wrong credential. Every request is recorded for assertions.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class GrafanaState:
    password: str
    token: str | None = None
    folders: list[dict[str, Any]] = field(default_factory=list)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    # GET /api/datasources: None answers 403 (a token without datasources:read, as on Grafana).
    datasources: list[dict[str, Any]] | None = None


def _handler(state: GrafanaState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def _authorized(self) -> bool:
            auth = self.headers.get("Authorization", "")
            if state.token and auth == f"Bearer {state.token}":
                return True
            return auth == "Basic " + base64.b64encode(f"admin:{state.password}".encode()).decode()

        def _send(self, code: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body: Any = json.loads(self.rfile.read(length)) if length else {}
            state.requests.append({"method": method, "path": self.path, "body": body,
                                   "auth": self.headers.get("Authorization", "")})
            if not self._authorized():
                return self._send(401, {"message": "Invalid username or password"})
            path = self.path.split("?")[0]
            if method == "GET" and path == "/api/datasources":
                if state.datasources is None:
                    return self._send(403, {"message": "You'll need additional permissions to perform this action."})
                return self._send(200, state.datasources)
            if method == "GET" and path == "/api/folders":
                return self._send(200, [{"id": f["id"], "uid": f["uid"], "title": f["title"]} for f in state.folders])
            if method == "POST" and path == "/api/folders":
                folder = {"id": len(state.folders) + 1, "uid": body.get("uid") or f"f{len(state.folders)}",
                          "title": body["title"]}
                state.folders.append(folder)
                return self._send(200, folder)
            if method == "POST" and path == "/api/dashboards/db":
                dash = body["dashboard"]
                uid = dash["uid"]
                old = state.dashboards.get(uid)
                if old and not body.get("overwrite"):
                    return self._send(412, {"message": "A dashboard with the same uid already exists", "status": "name-exists"})
                if body.get("folderUid") not in {f["uid"] for f in state.folders}:
                    return self._send(400, {"message": "folder not found"})
                version = (old["version"] + 1) if old else 1
                state.dashboards[uid] = {"dashboard": dash, "folderUid": body["folderUid"], "version": version}
                slug = str(dash.get("title", "")).lower().replace(" ", "-")
                return self._send(200, {"id": 7, "uid": uid, "url": f"/d/{uid}/{slug}", "status": "success",
                                        "version": version, "slug": slug})
            return self._send(404, {"message": "Not found"})

        def do_GET(self) -> None:  # noqa: N802
            self._handle("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._handle("POST")

    return Handler


@contextlib.contextmanager
def grafana(state: GrafanaState) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
