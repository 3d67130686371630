"""The framing of a load pod's records on stdout (load/framing.py): written, then read back out of log noise;
every bad framed line named by its line number, a cut log told apart from a whole one."""

from __future__ import annotations

from tritonobs.load.framing import MAX_LINE, PREFIX, frame_run, parse_log
from tritonobs.load.results import RequestRecord, RunResult

HEADER = ('##tritonobs-load run {"columns": ["request_id", "url", "model", "start_s", "first_token_s", "end_s", '
          '"tokens", "ok", "error", "scheduled_s"], "mode": "open", "planned_duration_s": 60.0, '
          '"profile": "constant 2 (share 1 of 2)", "share": "0/2", "started_unix": 1700000000.5, "v": 1}')
REQ_OK = '##tritonobs-load req ["0","10.0.0.7:8001","llama",1.0,1.25,3.0,32,true,"",0.99]'
REQ_FAILED = '##tritonobs-load req ["1","10.0.0.8:8001","llama",2.0,null,2.5,0,false,"UNAVAILABLE",null]'


def test_written_lines_read_back_to_the_same_records() -> None:
    records = [RequestRecord("0", "10.0.0.7:8001", "llama", 1.0, 1.25, 3.0, 32, True, "", 0.99),
               RequestRecord("1", "10.0.0.8:8001", "llama", 2.0, None, 2.5, 0, False, "x" * 5000, None)]
    run = RunResult(records, [], 1_700_000_000.5, 60.0, "open", "constant 2")
    lines = list(frame_run(run, "0/2"))
    assert [line.split(" ")[1] for line in lines] == ["run", "req", "req", "end"]
    assert all(line.startswith(PREFIX) and len(line) <= MAX_LINE for line in lines)
    parsed = parse_log("\n".join(["t=0s load 2 sent 0", *lines, "share 1 of 2: 1 requests ok, 1 failed"]))
    assert parsed.problems == []
    assert parsed.run is not None
    assert parsed.run.records[0] == records[0]
    assert parsed.run.records[1].error == "x" * 300  # shortened so the line stays bounded
    assert (parsed.run.started_unix, parsed.run.planned_duration_s, parsed.run.mode) == (1_700_000_000.5, 60.0, "open")


def test_noise_is_skipped_and_a_whole_log_parses() -> None:
    log = "\n".join([
        "t=0s load 2 sent 0 ok 0 failed 0 targets 2",
        HEADER,
        "WARNING: grpc something something",
        REQ_OK,
        "t=5s load 2 sent 9 ok 8 failed 0 targets 2",
        REQ_FAILED,
        '##tritonobs-load end {"failed": 1, "ok": 1, "requests": 2}',
        "share 1 of 2: 1 requests ok, 1 failed",
    ])
    parsed = parse_log(log)
    assert parsed.problems == []
    assert parsed.run is not None
    assert [(r.request_id, r.ok, r.ttft_s, r.tokens) for r in parsed.run.records] == [
        ("0", True, 0.25, 32), ("1", False, None, 0)]
    assert parsed.run.profile == "constant 2 (share 1 of 2)"


def test_bad_json_an_oversized_line_and_a_cut_log_are_each_named() -> None:
    log = "\n".join([
        HEADER,                                                       # line 1
        REQ_OK,                                                       # line 2
        '##tritonobs-load req ["2","10.0.0.7:8001","llama",4.0,4.5',  # line 3: cut mid-record
        "##tritonobs-load req " + "[" + "1," * MAX_LINE + "1]",       # line 4: over the bound
        '##tritonobs-load req ["3","u","m","soon",null,5.0,1,true,"",null]',  # line 5: start_s not a number
        REQ_FAILED,                                                   # line 6: fine; then the log ends, no end line
    ])
    parsed = parse_log(log)
    assert parsed.run is not None
    assert [r.request_id for r in parsed.run.records] == ["0", "1"]
    assert len(parsed.problems) == 4
    assert parsed.problems[0].startswith("line 3: bad req line (")
    assert parsed.problems[1] == f"line 4: framed line over {MAX_LINE} characters"
    assert parsed.problems[2] == "line 5: bad req line (start_s is not a number)"
    assert parsed.problems[3] == "no end line after 2 request(s): the log is truncated"


def test_a_log_without_a_header_or_with_a_wrong_count() -> None:
    nothing = parse_log("Traceback (most recent call last):\n  grpc... UNAVAILABLE\n")
    assert nothing.run is None
    assert nothing.problems == ["no run header (the load never finished, or the log was rotated or cut)"]
    short = parse_log("\n".join([HEADER, REQ_OK, '##tritonobs-load end {"failed": 0, "ok": 3, "requests": 3}']))
    assert short.run is not None and len(short.run.records) == 1
    assert short.problems == ["the end line counts 3 request(s), 1 were read"]
