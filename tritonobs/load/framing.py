"""A load run as framed lines on stdout, so a load pod's log carries its client records to `verify`.

Every framed line starts with `PREFIX` and holds one JSON value; anything else in the log (progress lines,
library warnings) is noise and skipped. A run is one `run` line (columns and the run's header), one `req`
line per request (a JSON array in `CSV_COLUMNS` order: compact, so long runs stay under the kubelet's log
rotation size), and one `end` line with the counts, which proves the log was not cut short. A framed line
never exceeds `MAX_LINE` characters (the error text is shortened to fit).

Pure: text in, text out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from tritonobs.load.results import CSV_COLUMNS, RequestRecord, RunResult

PREFIX = "##tritonobs-load "
MAX_LINE = 4096  # characters of one framed line; a longer one is refused when read
MAX_ERROR = 300  # characters of a request's error text kept in its record
VERSION = 1


def frame_run(result: RunResult, share: str = "") -> Iterator[str]:
    """The framed lines (no newline) of a run."""
    header = {"v": VERSION, "columns": CSV_COLUMNS, "mode": result.mode, "profile": result.profile,
              "planned_duration_s": result.planned_duration_s, "started_unix": result.started_unix, "share": share}
    yield PREFIX + "run " + json.dumps(header, sort_keys=True)
    ok = 0
    for r in result.records:
        ok += r.ok
        row = [getattr(r, c) for c in CSV_COLUMNS]
        row[CSV_COLUMNS.index("error")] = r.error[:MAX_ERROR]
        yield PREFIX + "req " + json.dumps(row, separators=(",", ":"))
    end = {"requests": len(result.records), "ok": ok, "failed": len(result.records) - ok}
    yield PREFIX + "end " + json.dumps(end, sort_keys=True)


@dataclass
class ParsedLog:
    """What one log held: the run (None without a readable `run` line) and every problem, by line."""

    run: RunResult | None = None
    problems: list[str] = field(default_factory=list)


def _record(value: object, columns: list[str]) -> RequestRecord:
    if not isinstance(value, list) or len(value) != len(columns):
        raise ValueError(f"expected an array of {len(columns)} values")
    row = dict(zip(columns, value, strict=True))
    rec = RequestRecord(**row)
    for name in ("start_s", "end_s"):
        if not isinstance(getattr(rec, name), int | float):
            raise ValueError(f"{name} is not a number")
    if not isinstance(rec.tokens, int) or not isinstance(rec.ok, bool):
        raise ValueError("tokens/ok have the wrong type")
    return rec


def parse_log(text: str) -> ParsedLog:
    """The run framed in a pod's log; noise lines are skipped, every bad framed line is a problem."""
    out = ParsedLog()
    header: dict[str, object] | None = None
    records: list[RequestRecord] = []
    end: dict[str, object] | None = None
    columns = list(CSV_COLUMNS)
    for n, line in enumerate(text.splitlines(), 1):
        if not line.startswith(PREFIX):
            continue
        if len(line) > MAX_LINE:
            out.problems.append(f"line {n}: framed line over {MAX_LINE} characters")
            continue
        kind, _, body = line[len(PREFIX):].partition(" ")
        try:
            value = json.loads(body)
            if kind == "run":
                if not isinstance(value, dict) or value.get("v") != VERSION:
                    raise ValueError(f"not a version {VERSION} run header")
                header, columns = value, list(value["columns"])
            elif kind == "req":
                if header is None:
                    raise ValueError("a request before the run header")
                records.append(_record(value, columns))
            elif kind == "end":
                if not isinstance(value, dict):
                    raise ValueError("not an object")
                end = value
            else:
                raise ValueError(f"unknown kind {kind!r}")
        except (ValueError, TypeError, KeyError) as e:  # JSONDecodeError is a ValueError
            out.problems.append(f"line {n}: bad {kind or 'framed'} line ({str(e)[:120]})")
    if header is None:
        out.problems.append("no run header (the load never finished, or the log was rotated or cut)")
        return out
    if end is None:
        out.problems.append(f"no end line after {len(records)} request(s): the log is truncated")
    elif end.get("requests") != len(records):
        out.problems.append(f"the end line counts {end.get('requests')} request(s), {len(records)} were read")
    try:
        out.run = RunResult(records, [], float(header["started_unix"]),  # type: ignore[arg-type]
                            float(header["planned_duration_s"]), str(header["mode"]),  # type: ignore[arg-type]
                            str(header["profile"]))
    except (KeyError, TypeError, ValueError) as e:
        out.problems.append(f"run header incomplete ({e})")
    return out
