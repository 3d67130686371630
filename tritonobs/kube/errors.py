"""Typed errors of the Kubernetes edge. Each maps to one line and an exit code in the CLI."""

from __future__ import annotations

from tritonobs.core.errors import CheckFailed, ExternalError


class ApiError(ExternalError):
    """The API server answered with an error status we did not expect (exit 3, endpoint named)."""

    def __init__(self, endpoint: str, status: int, reason: str, message: str) -> None:
        self.status = status
        self.reason = reason
        self.api_message = message
        super().__init__(endpoint, f"HTTP {status} {reason}: {message}")


class Unauthorized(ApiError):
    """401: the credentials were rejected (expired token, wrong cluster, no access entry)."""


class Forbidden(ApiError):
    """403: authenticated but RBAC denies the verb; `tritonobs rbac` renders what is needed."""


class NotFound(ApiError):
    """404: the object (or the resource type itself) does not exist."""


class Conflict(ApiError):
    """409: a server-side apply conflict (another field manager owns a field we set), or a write on a stale
    resourceVersion. The cluster answered; someone else holds the object: exit 1, like ApplyConflict and
    Modified, which apply raises for the same answer."""

    exit_code = 1


class Invalid(ApiError):
    """422/400: the server rejected an object as invalid."""


class ApplyConflict(CheckFailed):
    """Another manager owns fields we set: re-run with --force-conflicts to take them over."""


class PreflightFailed(CheckFailed):
    """The cluster is reachable but not ready for the stack (missing Deployment, CRD, metrics API)."""


class UnlabelledObject(CheckFailed):
    """A rendered object lacks our ownership labels: prune could never find it again, so refuse."""


class Modified(CheckFailed):
    """An object we read and merged into was changed by someone else before our write (409 on resourceVersion)."""
