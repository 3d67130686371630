"""A small AMP look-alike for tests: verifies SigV4 like AWS does, then forwards to a real Prometheus.

It serves `/workspaces/<id>/api/v1/...` as Amazon Managed Prometheus does, and checks every request the way
the service checks it, with botocore and nothing of tritonobs: the Authorization header's scope (date,
region, service `aps`), a known access key, X-Amz-Date within 5 minutes, then the signature recomputed from
the request as received (method, path, query decoded and re-encoded strictly, the signed headers, the body's
SHA-256). A mismatch is 403 with AWS's message; a good request is forwarded, without the workspace prefix,
to the real Prometheus behind it, and the answer relayed unchanged.
"""

from __future__ import annotations

import datetime as dt
import hmac
import http.server
import json
import re
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

AUTH = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                  r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$")
MISMATCH = ("The request signature we calculated does not match the signature you provided. Check your AWS "
            "Secret Access Key and signing method. Consult the service documentation for details.")
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class SigV4Proxy:
    upstream: str  # the real Prometheus, e.g. http://127.0.0.1:9090
    workspace_id: str
    region: str
    keys: dict[str, str]  # access key id -> secret key the "service" knows
    accepted: int = 0
    rejected: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                proxy._handle(self)

            def do_POST(self) -> None:  # noqa: N802
                proxy._handle(self)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """The workspace URL (what `serverAddress` / the query client is given)."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/workspaces/{self.workspace_id}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> SigV4Proxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the service's side ---
    def verify(self, method: str, target: str, headers: dict[str, str], body: bytes) -> str | None:
        """None when the request is signed correctly, else AWS's reason."""
        auth = headers.get("authorization")
        if not auth:
            return "Missing Authentication Token"
        m = AUTH.match(auth)
        if not m:
            return "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'"
        key_id, day, region, service, signed, signature = m.groups()
        if key_id not in self.keys:
            return "The security token included in the request is invalid."
        if (region, service) != (self.region, "aps"):
            return f"Credential should be scoped to a valid region and service aps ({region}/{service})"
        stamp = headers.get("x-amz-date", "")
        try:
            when = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        except ValueError:
            return "X-Amz-Date missing or malformed"
        if abs((dt.datetime.now(dt.UTC) - when).total_seconds()) > 300 or stamp[:8] != day:
            return "Signature expired or not yet valid"
        names = signed.split(";")
        if "host" not in names:
            return "'Host' must be a signed header"
        parts = urlsplit(target)
        request = AWSRequest(
            method=method, url=f"http://{headers['host']}{parts.path}", data=body,
            headers={n: headers[n] for n in names if n in headers},
            params=parse_qsl(parts.query, keep_blank_values=True),
        )
        signer = SigV4Auth(Credentials(key_id, self.keys[key_id]), "aps", region)
        request.context["timestamp"] = stamp
        canonical = signer.canonical_request(request)
        if signer.signed_headers(signer.headers_to_sign(request)) != signed:
            return "SignedHeaders name a header the request does not carry"
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        return None if hmac.compare_digest(expected, signature) else MISMATCH

    def _handle(self, h: http.server.BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in h.headers.items()}
        prefix = f"/workspaces/{self.workspace_id}"
        if not h.path.startswith(prefix + "/"):
            self._reply(h, 404, b'{"message": "Workspace not found"}', "application/json")
            return
        problem = self.verify(h.command, h.path, headers, body)
        if problem is not None:
            self.rejected.append(problem)
            self._reply(h, 403, json.dumps({"message": problem}).encode(), "application/json")
            return
        self.accepted += 1
        forward = urllib.request.Request(self.upstream + h.path[len(prefix):], data=body if h.command == "POST" else None,
                                         method=h.command)
        if "content-type" in headers:
            forward.add_header("Content-Type", headers["content-type"])
        try:
            with _DIRECT.open(forward, timeout=30) as resp:
                self._reply(h, resp.status, resp.read(), resp.headers.get("Content-Type", "application/json"))
        except urllib.error.HTTPError as e:
            self._reply(h, e.code, e.read(), e.headers.get("Content-Type", "application/json"))

    @staticmethod
    def _reply(h: http.server.BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
