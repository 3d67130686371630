"""Push the rendered dashboards to Grafana's HTTP API (grafana-client): find-or-create the folder, overwrite.

For Grafanas that do not run the dashboard sidecar (or to see a change before the ConfigMaps roll out).
The dashboard JSON is exactly what `tritonobs render` writes, so the uid — and every link to it — is the
same whichever way a dashboard arrives: push takes the models from the command's rendered and checked `Bundle`
(render once) instead of building them again. Credentials are passed in; nothing here prints them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaException, GrafanaUnauthorizedError
from niquests.exceptions import RequestException

from tritonobs.aws.secrets import Secret
from tritonobs.core.errors import ExternalError
from tritonobs.core.model import Stack, stable_uid

TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Pushed:
    title: str
    uid: str
    url: str
    version: int | None


PROMETHEUS_TYPES = ("prometheus", "grafana-amazonprometheus-datasource")


def folder_uid(stack: Stack, title: str) -> str:
    return f"tobs-{stable_uid(stack.name, 'folder', title)}"


def connect(url: str, *, token: Secret | None = None, user: str = "admin", password: Secret | None = None) -> GrafanaApi:
    credential: Any = token.reveal() if token else (user, password.reveal()) if password else None
    return GrafanaApi.from_url(url, credential=credential, timeout=TIMEOUT_SECONDS)


def _external(url: str, e: GrafanaException) -> ExternalError:
    if isinstance(e, GrafanaUnauthorizedError):
        return ExternalError(url, "unauthorized: the Grafana credentials were rejected")
    status = getattr(e, "status_code", 0)
    if not status:
        return ExternalError(url, f"unreachable: {str(getattr(e, 'message', e)).splitlines()[0]}")
    return ExternalError(url, f"HTTP {status}: {getattr(e, 'message', e)}")


def ensure_folder(api: GrafanaApi, stack: Stack, title: str) -> str:
    for folder in api.folder.get_all_folders() or []:
        if folder.get("title") == title:
            return str(folder["uid"])
    created = api.folder.create_folder(title, uid=folder_uid(stack, title))
    return str(created["uid"])


def datasource_warning(api: GrafanaApi, url: str, wanted: str) -> str | None:
    """Why the dashboards' Data source menu would be empty on this Grafana, or None. A data source variable
    lists one plugin type; a Grafana that has only the other Prometheus flavour needs datasource_type changed.
    Not knowing (no permission to list data sources) is no warning."""
    try:
        found = api.datasource.list_datasources() or []
    except (GrafanaException, RequestException):
        return None
    types = sorted({str(d.get("type")) for d in found if isinstance(d, dict)})
    if wanted in types:
        return None
    flavours = [t for t in types if t in PROMETHEUS_TYPES]
    hint = (f"; set monitoring.grafana.datasource_type: {flavours[0]}" if flavours
            else "; add a Prometheus data source (SigV4 for AMP)")
    return (f"{url}: no data source of type {wanted} (found: {', '.join(types) or 'none'}): the dashboards' "
            f"Data source menu would be empty{hint}")


def push(api: GrafanaApi, url: str, stack: Stack, dashboards: Mapping[str, dict[str, Any]]) -> list[Pushed]:
    """Save each dashboard model (slug -> JSON model, the bundle's `dashboards`) in the spec's folder."""
    title = stack.spec.monitoring.grafana.folder
    out = []
    try:
        folder = ensure_folder(api, stack, title)
        for slug in sorted(dashboards):
            model = dict(dashboards[slug])  # a copy: the bundle stays as rendered
            model["id"] = None  # matched by uid; a stale numeric id would make Grafana refuse the save
            answer = api.dashboard.update_dashboard(
                {"dashboard": model, "folderUid": folder, "overwrite": True, "message": "tritonobs grafana push"}
            )
            out.append(Pushed(str(model.get("title")), str(answer.get("uid")), str(answer.get("url")), answer.get("version")))
    except GrafanaException as e:
        raise _external(url, e) from None
    except RequestException as e:  # connection failures reach us unwrapped from grafana-client's HTTP library
        raise ExternalError(url, f"unreachable: {str(e).splitlines()[0]}") from None
    return out
