"""Checks of what a user hands a command: files, folders, numbers, durations, URLs. Every refusal is a
UsageError (exit 2) saying what is wrong and what to do, located at `file:line` where there is a file,
and decided before any network call.

Files are read bounded: regular files only (a FIFO or /dev/zero would block or never end), at most
`limit` bytes, UTF-8 with the line of the first bad byte, no NUL bytes.
"""

from __future__ import annotations

import errno
import ipaddress
import math
import os
import re
import stat
from pathlib import Path
from urllib.parse import urlsplit

from tritonobs.core.errors import UsageError

MIB = 1024 * 1024
TEXT_LIMIT = 10 * MIB  # prompts, CSV traces, model files
YAML_LIMIT = 1 * MIB  # spec, HPA manifest, kubeconfig: pure-Python YAML reads ~1 MiB/s
INT32_MAX = 2**31 - 1  # Kubernetes stores replica counts, ports, seconds as int32
MAX_RUN_SECONDS = 7 * 86400.0  # a load or verification window
MAX_WAIT_SECONDS = 86400.0  # a wait, timeout, drain or poll interval


# --- files and folders ---


def _stat(path: Path, kind: str, hint: str) -> os.stat_result:
    where = str(path)
    if not where:
        raise UsageError(f"empty path: name a {kind}{hint}")
    try:
        return path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise UsageError(f"a symlink to a missing {kind} ({os.readlink(path)}){hint}", file=where) from None
        raise UsageError(f"{kind} not found{hint}", file=where) from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UsageError(f"symlink loop (the link leads back to itself): name the {kind} itself{hint}",
                             file=where) from None
        if e.errno == errno.ENOTDIR:
            raise UsageError(f"{kind} not found: a folder on the way is a file{hint}", file=where) from None
        if e.errno == errno.ENAMETOOLONG:
            raise UsageError(f"path too long: name a {kind}{hint}", file=where[:200] + "...") from None
        raise UsageError(f"cannot read: {e.strerror or e}{hint}", file=where) from None


def read_text(path: Path | str, *, what: str = "file", limit: int = TEXT_LIMIT, hint: str = "",
              allow_empty: bool = False) -> str:
    """The text of a user's file, or a UsageError at file(:line). `what` names it in messages ("spec"),
    `hint` says what to pass instead (" (pass --spec PATH)"); an empty file is an error unless allow_empty."""
    p = Path(path)
    where = str(p)
    st = _stat(p, "file", hint)
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"is a folder: name a file{hint}", file=where)
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"not a regular file (a device, pipe or socket): name a file{hint}", file=where)
    if st.st_size > limit:
        raise UsageError(f"{st.st_size / MIB:.1f} MiB is too big for a {what} (limit {limit // MIB} MiB): "
                         "is this the right file?", file=where)
    try:
        with p.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as e:
        raise UsageError(f"cannot read: {e.strerror or e}{hint}", file=where) from None
    if len(data) > limit:  # grew since stat, or a file whose size stat does not tell
        raise UsageError(f"more than {limit // MIB} MiB: too big for a {what}; is this the right file?", file=where)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise UsageError(f"not UTF-8 text: byte 0x{data[e.start]:02x} at column {column} (a binary file, "
                         f"or another encoding?): save the {what} as UTF-8", file=where, line=line) from None
    nul = text.find("\0")
    if nul >= 0:
        raise UsageError(f"a NUL byte at column {nul - text.rfind(chr(10), 0, nul)} (a binary file?): the {what} "
                         "must be text", file=where, line=text.count("\n", 0, nul) + 1)
    if not text.strip() and not allow_empty:
        raise UsageError(f"the {what} is empty{hint}", file=where, line=1)
    return text.removeprefix("\ufeff")


def input_dir(path: Path, what: str = "folder", hint: str = "") -> Path:
    """A folder the command reads: it exists and is a folder (UsageError at the path otherwise)."""
    st = _stat(path, what, hint)
    if not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"is a file, not a {what}{hint}", file=str(path))
    return path


def _nearest_existing(path: Path) -> Path:
    for candidate in (path.absolute(), *path.absolute().parents):
        if os.path.lexists(candidate):
            return candidate
    return Path("/")


def _what_is(path: Path) -> str:
    """What stands at `path` (which exists, maybe only as a link), for messages."""
    try:
        st = path.stat()
    except OSError as e:
        return "a symlink loop" if e.errno == errno.ELOOP else "a broken symlink"
    if stat.S_ISDIR(st.st_mode):
        return "a folder"
    return "a file" if stat.S_ISREG(st.st_mode) else "a device, pipe or socket"


def _writable_base(option: str, path: Path, base: Path) -> None:
    try:
        is_dir = base.is_dir()
    except OSError:  # a symlink loop on the way
        is_dir = False
    if not is_dir or not os.access(base, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: cannot write there ({base} is not a writable folder)")


def output_file(option: str, path: Path) -> None:
    """Before a run, not after it: a file the run will write must be writable where it is named (its
    folder may still have to be created)."""
    if os.path.lexists(path) and (what := _what_is(path)) != "a file":
        raise UsageError(f"{option} {path}: is {what}; name a file")
    _writable_base(option, path, _nearest_existing(path.parent))


def output_dir(option: str, path: Path) -> None:
    """Before a run: the folder outputs go to exists (or can be created) and is writable."""
    base = _nearest_existing(path)
    if base == path.absolute() and (what := _what_is(path)) != "a folder":
        raise UsageError(f"{option} {path}: is {what}; name a folder")
    _writable_base(option, path, base)


# --- numbers and durations ---


def count(option: str, value: int, lo: int, hi: int, why: str = "") -> int:
    """An integer option within [lo, hi]; `why` explains the upper bound."""
    if value < lo:
        raise UsageError(f"{option} {value}: must be at least {lo}")
    if value > hi:
        raise UsageError(f"{option} {value}: must be at most {hi}{why}")
    return value


def number(option: str, value: float, lo: float, hi: float, *, lo_open: bool = False) -> float:
    """A finite float option within [lo, hi] (or (lo, hi] with lo_open)."""
    if not math.isfinite(value):
        raise UsageError(f"{option} {value}: must be a finite number")
    if value < lo or (lo_open and value == lo):
        raise UsageError(f"{option} {value:g}: must be {'more than' if lo_open else 'at least'} {lo:g}")
    if value > hi:
        raise UsageError(f"{option} {value:g}: must be at most {hi:g}")
    return value


# The one duration grammar, for the spec and the command line: a number and a unit (ms, s, m, h, d), or
# bare seconds. The spec takes its Prometheus subset (an integer and a unit: config.PROMETHEUS_DURATION),
# because its durations are written into rules and queries.
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(text: str) -> float:
    """'30s', '2m', '500ms', '1h', '1d', '12.5' (seconds) -> seconds. ValueError on anything else."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a duration (write e.g. 30s, 2m, 500ms)")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def seconds(option: str, text: str, *, hi: float = MAX_WAIT_SECONDS, zero_ok: bool = False) -> float:
    """A duration option ('30s', '2m'): more than 0 (or 0 with zero_ok) and at most `hi`."""
    try:
        value = parse_duration(text)
    except ValueError as e:
        raise UsageError(f"{option}: {e}") from None
    if value < 0 or (value == 0 and not zero_ok):
        raise UsageError(f"{option} {text}: must be more than 0")
    if value > hi:
        raise UsageError(f"{option} {text}: must be at most {_human(hi)}")
    return value


# --- addresses ---

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def _host_ok(host: str) -> bool:
    if ":" in host:  # IPv6 (already unbracketed)

        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return False
        return True
    return 0 < len(host) <= 253 and all(_HOST_LABEL.match(label) for label in host.rstrip(".").split("."))


def http_url_problem(text: str) -> str | None:
    """Why `text` is not an http(s)://HOST[:PORT][/path] URL, or None."""
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError on a bad port
    except ValueError as e:
        return f"bad port or address ({e})"
    if parts.scheme not in ("http", "https"):
        return "the scheme must be http:// or https://"
    if not parts.hostname or not _host_ok(parts.hostname):
        return "no valid host name"
    if port == 0:
        return "port 0 is not a port"
    if parts.query or parts.fragment:
        return "a base URL takes no ?query or #fragment"
    if any(c.isspace() for c in text):
        return "spaces are not allowed"
    return None


def http_url(option: str, text: str, example: str) -> str:
    problem = http_url_problem(text)
    if problem:
        raise UsageError(f"{option} {text!r}: not an http(s) URL ({problem}): write e.g. {example}")
    return text


def prometheus_url(text: str) -> str:
    """A Prometheus base URL (every --prometheus option and the Prometheus client say it the same way)."""
    if http_url_problem(text):
        raise UsageError(f"Prometheus URL {text!r}: expected http(s)://HOST:PORT, e.g. http://127.0.0.1:9090")
    return text


def host_port(option: str, text: str, example: str = "localhost:8001") -> tuple[str, int]:
    """HOST:PORT (a gRPC target): a host name, IPv4 or [IPv6] address and a port 1-65535."""
    how = f"expected HOST:PORT, e.g. {example}"
    if "://" in text:
        raise UsageError(f"{option} {text!r}: {how} (no scheme: gRPC targets are written without http://)")
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise UsageError(f"{option} {text!r}: {how} (write an IPv6 address in brackets: [::1]:8001)")
    if not sep or not port.isdigit() or not host:
        raise UsageError(f"{option} {text!r}: {how}")
    if not 1 <= int(port) <= 65535:
        raise UsageError(f"{option} {text!r}: port {port} is outside 1-65535")
    if not _host_ok(host):
        raise UsageError(f"{option} {text!r}: {host!r} is not a host name or IP address ({how})")
    return host, int(port)


# --- cloud names ---

AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$")
EKS_CLUSTER_NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")


def aws_region(option: str, text: str) -> str:
    if not AWS_REGION.match(text):
        raise UsageError(f"{option} {text!r}: not an AWS region (write e.g. us-west-2)")
    return text


def eks_cluster(option: str, text: str) -> str:
    if not EKS_CLUSTER_NAME.match(text):
        raise UsageError(f"{option} {text!r}: not an EKS cluster name (letters, digits, '-' and '_', "
                         "starting with a letter or digit, at most 100)")
    return text
