"""Small, typed exceptions. The CLI maps each to one line and an exit code (never a traceback)."""

from __future__ import annotations


class TritonobsError(Exception):
    """Base class. `exit_code` is what the CLI returns."""

    exit_code = 1

    def lines(self) -> list[str]:
        """What the CLI prints, one `error:` line each (a message is folded onto one line)."""
        return [" ".join(part.strip() for part in str(self).splitlines() if part.strip())]


class UsageError(TritonobsError):
    """Bad input from the user: a spec, rule, dashboard or model config. Exit 2, nothing written."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        self.file = file
        self.line = line
        self.detail = message
        where = file or ""
        if file and line:
            where = f"{file}:{line}"
        super().__init__(f"{where}: {message}" if where else message)


class SpecError(UsageError):
    """A problem in tritonobs.yaml, located at `file:line: path.to.field: message`."""

    def __init__(self, message: str, *, file: str, line: int | None = None, path: str = "") -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message, file=file, line=line)


class SpecProblems(SpecError):
    """Every problem found in one spec, sorted by line: one `file:line: path: what to do` line each, exit 2.
    Its file/line/path are the first problem's, so callers that locate a SpecError still can."""

    def __init__(self, problems: list[SpecError]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.line or 0, p.path))
        first = self.problems[0]
        UsageError.__init__(self, "\n".join(str(p) for p in self.problems))
        self.file, self.line, self.path, self.detail = first.file, first.line, first.path, first.detail

    def lines(self) -> list[str]:
        return [line for p in self.problems for line in p.lines()]


class ExternalError(TritonobsError):
    """The outside world failed (cluster, AWS, Prometheus, Triton unreachable). Exit 3, endpoint named."""

    exit_code = 3

    def __init__(self, endpoint: str, message: str) -> None:
        self.endpoint = endpoint
        self.detail = message
        super().__init__(f"{endpoint}: {message}")


class CheckFailed(TritonobsError):
    """A check ran and found a problem (stale outputs, a failed budget). Exit 1."""

    exit_code = 1
