"""The bad CLI inputs of test_bad_inputs.py: one Case per input, grouped by command. Each names the argv,
the files it needs (written into an empty folder, `{tmp}`), and the exact stderr line after "error: "."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DASHBOARDS = REPO / "dashboards"
EXAMPLE = (REPO / "tritonobs.yaml").read_text()
HPA = (REPO / "adapter_rules" / "hpa.yaml").read_text()
MIB = 1024 * 1024
Setup = Callable[[Path], None]
PORT = "{port}"  # in a file's text: a local port nothing listens on
CLOSED_PORT = [0]  # that port, set by the test before each case's files are written


def write(name: str, content: str | bytes) -> Setup:
    def make(tmp: Path) -> None:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content.replace(PORT, str(CLOSED_PORT[0])), encoding="utf-8")

    return make


def spec(text: str = EXAMPLE, name: str = "tritonobs.yaml") -> Setup:
    return write(name, text)


def symlink_loop(name: str) -> Setup:
    def make(tmp: Path) -> None:
        (tmp / name).symlink_to(tmp / name)

    return make


def folder(name: str) -> Setup:
    def make(tmp: Path) -> None:
        (tmp / name).mkdir(parents=True)

    return make


def fifo(name: str) -> Setup:
    def make(tmp: Path) -> None:
        os.mkfifo(tmp / name)

    return make


def model_repository(tmp: Path) -> None:
    shutil.copytree(REPO / "model_repository", tmp / "repo", ignore=shutil.ignore_patterns("__pycache__"))


def bad_parameter(tmp: Path) -> None:
    model_repository(tmp)
    cfg = tmp / "repo" / "llama2" / "config.pbtxt"
    cfg.write_text(cfg.read_text().replace('string_value: "256"', 'string_value: "lots"'))


def binary_config(tmp: Path) -> None:
    model_repository(tmp)
    cfg = tmp / "repo" / "llama2" / "config.pbtxt"
    cfg.write_bytes(cfg.read_bytes().replace(b'backend: "python"', b'backend: "pyth\xffn"'))


def _alias_bomb() -> str:
    lines = ['lol0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"lol{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


BOMB = _alias_bomb()  # 9^10 values once expanded: hours for a naive walk
DEEP = "x: " + "[" * 100_000 + "]" * 100_000 + "\n"
KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:{port}"}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
users:
- name: u
  user: {token: "secret-token-do-not-print"}
"""
METRIC_TRACE = "time_s,total_value\n0,1\n15,2\n"


@dataclass(frozen=True)
class Case:
    id: str
    argv: list[str]  # "{tmp}", "{dash}", "{port}" are filled in
    line: str  # the whole stderr: one line, after "error: " ("re:" prefix: a regular expression)
    files: tuple[Setup, ...] = ()
    code: int = 2
    adversarial: bool = False  # run in a subprocess with a timeout (a hang must fail, not block)
    network: bool = False  # about the outside world: the (closed) port may be contacted
    env: dict[str, str] = field(default_factory=dict)


S = ["--spec", "{tmp}/tritonobs.yaml", "--dashboards", "{dash}"]  # a valid spec and the repo's dashboards
NOT_UTF8 = "not UTF-8 text: byte 0x{byte} at column {col} (a binary file, or another encoding?): save the {what} as UTF-8"

CASES = [
    # --- the spec file itself (validate; every command loads it the same way) ---
    Case("spec-folder", ["validate", *S], "{tmp}/tritonobs.yaml: is a folder: name a file (pass --spec PATH or "
         "run from the stack's folder)", (folder("tritonobs.yaml"),)),
    Case("spec-symlink-loop", ["validate", *S], "{tmp}/tritonobs.yaml: symlink loop (the link leads back to itself): "
         "name the file itself (pass --spec PATH or run from the stack's folder)", (symlink_loop("tritonobs.yaml"),)),
    Case("spec-dangling-symlink", ["render", *S],
         "{tmp}/tritonobs.yaml: a symlink to a missing file ({tmp}/gone.yaml) (pass --spec PATH or run from the "
         "stack's folder)", (lambda t: (t / "tritonobs.yaml").symlink_to(t / "gone.yaml"),)),
    Case("spec-fifo", ["validate", *S], "{tmp}/tritonobs.yaml: not a regular file (a device, pipe or socket): name "
         "a file (pass --spec PATH or run from the stack's folder)", (fifo("tritonobs.yaml"),), adversarial=True),
    Case("spec-dev-zero", ["validate", "--spec", "/dev/zero", "--dashboards", "{dash}"], "/dev/zero: not a regular "
         "file (a device, pipe or socket): name a file (pass --spec PATH or run from the stack's folder)",
         adversarial=True),
    Case("spec-too-big", ["validate", *S], "{tmp}/tritonobs.yaml: 1.5 MiB is too big for a spec (limit 1 MiB): is "
         "this the right file?", (spec(EXAMPLE + "#" * (3 * MIB // 2) + "\n"),)),
    Case("spec-binary", ["validate", *S], "{tmp}/tritonobs.yaml:1: " + NOT_UTF8.format(byte="89", col=1, what="spec"),
         (write("tritonobs.yaml", b"\x89PNG\r\n\x1a\n\x00\x00"),)),
    Case("spec-nul-byte", ["validate", *S], "{tmp}/tritonobs.yaml:3: a NUL byte at column 7 (a binary file?): the "
         "spec must be text", (spec("apiVersion: tritonobs/v1\nkind: TritonStack\nname: \x00\n"),)),
    Case("spec-alias-bomb", ["validate", *S], "{tmp}/tritonobs.yaml:106: aliases expand this file beyond 100000 "
         "values (a YAML 'billion laughs' bomb?): write the values out or use fewer aliases",
         (spec(EXAMPLE + BOMB),), adversarial=True),
    Case("spec-deep-brackets", ["render", *S, "--out", "{tmp}/out"], "{tmp}/tritonobs.yaml:101: nested more than 64 "
         "levels deep: far deeper than any tritonobs input; is this the right file?", (spec(EXAMPLE + DEEP),),
         adversarial=True),
    Case("spec-deep-blocks", ["validate", *S], "{tmp}/tritonobs.yaml:165: nested more than 64 levels deep: far "
         "deeper than any tritonobs input; is this the right file?",
         (spec(EXAMPLE + "x:\n" + "".join(" " * 2 * i + f"k{i}:\n" for i in range(1, 200))),), adversarial=True),
    Case("spec-too-many-values", ["validate", *S], "{tmp}/tritonobs.yaml:101: more than 100000 values: far more "
         "than any tritonobs input holds; is this the right file?", (spec(EXAMPLE + "x: [" + "1," * 150_000 + "]\n"),),
         adversarial=True),
    # --- render / dashboards ---
    Case("render-out-is-a-file", ["render", *S, "--out", "{tmp}/out"], "--out {tmp}/out: is a file; name a folder",
         (spec(), write("out", "keep me\n"))),
    Case("render-check-out-is-a-file", ["render", *S, "--check", "--out", "{tmp}/out"], "--out {tmp}/out: is a file; "
         "name a folder", (spec(), write("out", "keep me\n"))),
    Case("render-out-under-a-file", ["render", *S, "--out", "{tmp}/out/sub"],
         "--out {tmp}/out/sub: cannot write there ({tmp}/out is not a writable folder)", (spec(), write("out", "x\n"))),
    Case("render-file-in-the-way", ["render", *S, "--out", "{tmp}/out"], "{tmp}/out/adapter_rules is in the way: a "
         "file where a folder of rendered outputs goes; move it, or pass --out DIR",
         (spec(), write("out/adapter_rules", "x\n"))),
    Case("dashboards-is-a-file", ["validate", "--spec", "{tmp}/tritonobs.yaml", "--dashboards", "{tmp}/tritonobs.yaml"],
         "{tmp}/tritonobs.yaml: is a file, not a dashboards folder (check --dashboards)", (spec(),)),
    # --- models validate ---
    Case("repository-symlink-loop", ["models", "validate", "--no-spec", "--repository", "{tmp}/repo"],
         "{tmp}/repo: symlink loop (the link leads back to itself): name the model repository itself (pass "
         "--repository PATH)", (symlink_loop("repo"),)),
    Case("config-pbtxt-not-utf8", ["models", "validate", "--no-spec", "--repository", "{tmp}/repo"],
         "{tmp}/repo/llama2/config.pbtxt:5: " + NOT_UTF8.format(byte="ff", col=15, what="model config"),
         (binary_config,)),
    Case("config-parameter-not-a-number", ["models", "validate", "--no-spec", "--repository", "{tmp}/repo"],
         '{tmp}/repo/llama2/config.pbtxt:66: parameter "max_num_seqs" must be a whole number, got \'lots\' '
         "(1/model.py would fail to load)", (bad_parameter,)),
    # --- kubeconfig and cluster names (apply, status) ---
    Case("kubeconfig-binary", ["apply", *S, "--kubeconfig", "{tmp}/kc"], "{tmp}/kc:1: " + NOT_UTF8.format(
        byte="fe", col=1, what="kubeconfig"), (spec(), write("kc", b"\xfe\xff\x00k")), ),
    Case("kubeconfig-folder", ["status", "--spec", "{tmp}/tritonobs.yaml", "--kubeconfig", "{tmp}"],
         "{tmp}: is a folder: name a file (pass --kubeconfig FILE or set KUBECONFIG)", (spec(),)),
    Case("kubeconfig-alias-bomb", ["status", "--spec", "{tmp}/tritonobs.yaml", "--kubeconfig", "{tmp}/kc"],
         "{tmp}/kc:7: aliases expand this file beyond 100000 values (a YAML 'billion laughs' bomb?): write the values "
         "out or use fewer aliases", (spec(), write("kc", "apiVersion: v1\n" + BOMB)), adversarial=True),
    Case("kubeconfig-server-not-a-url", ["status", "--spec", "{tmp}/tritonobs.yaml", "--kubeconfig", "{tmp}/kc"],
         "{tmp}/kc:5: clusters[0].cluster.server: not an https URL (got 'https://127.0.0.1:99999'): write e.g. "
         "https://203.0.113.10:6443", (spec(), write("kc", KUBECONFIG.replace(PORT, "99999")))),
    Case("kubeconfig-not-a-mapping", ["apply", *S, "--kubeconfig", "{tmp}/kc", "--dry-run"],
         "{tmp}/kc:1: not a kubeconfig (expected a mapping with clusters, contexts and users)",
         (spec(), write("kc", "- just\n- a list\n"))),
    Case("apply-wait-nan", ["apply", *S, "--wait-seconds", "nan"], "--wait-seconds nan: must be a finite number",
         (spec(),)),
    Case("apply-wait-negative", ["apply", *S, "--wait-seconds", "-5"], "--wait-seconds -5: must be at least 0",
         (spec(),)),
    Case("apply-wait-absurd", ["apply", *S, "--wait-seconds", "1e12"], "--wait-seconds 1e+12: must be at most 86400",
         (spec(),)),
    Case("apply-bad-cluster-name", ["apply", *S, "--cluster", "my cluster!"], "--cluster 'my cluster!': not an EKS "
         "cluster name (letters, digits, '-' and '_', starting with a letter or digit, at most 100)", (spec(),)),
    Case("apply-bad-region", ["apply", *S, "--region", "mars-1"], "--region 'mars-1': not an AWS region (write e.g. "
         "us-west-2)", (spec(),)),
    Case("status-prometheus-url", ["status", "--spec", "{tmp}/tritonobs.yaml", "--prometheus-url", "not a url"],
         "Prometheus URL 'not a url': expected http(s)://HOST:PORT, e.g. http://127.0.0.1:9090", (spec(),)),
    Case("status-triton-url", ["status", "--spec", "{tmp}/tritonobs.yaml", "--triton-url", "127.0.0.1:8000"],
         "--triton-url '127.0.0.1:8000': not an http(s) URL (the scheme must be http:// or https://): write e.g. "
         "http://127.0.0.1:8000", (spec(),)),
    Case("status-cluster-unreachable", ["status", "--spec", "{tmp}/tritonobs.yaml", "--kubeconfig", "{tmp}/kc"],
         r"re:https://127\.0\.0\.1:{port}: unreachable: .*Connection refused.*", (spec(), write("kc", KUBECONFIG)),
         code=3, network=True),
    # --- rbac, grafana, models sync: names and URLs ---
    Case("rbac-subject", ["rbac", *S, "--subject", "Robot:r2d2"], "--subject 'Robot:r2d2': use User:NAME, Group:NAME "
         "or ServiceAccount:NAMESPACE/NAME (e.g. Group:platform-admins, or the IAM identity's EKS access-entry "
         "username)", (spec(),)),
    Case("grafana-push-url", ["grafana", "push", *S, "--url", "grafana:3000"], "--url 'grafana:3000': not an http(s) "
         "URL (the scheme must be http:// or https://): write e.g. http://grafana.monitoring.svc", (spec(),)),
    Case("grafana-password-region", ["grafana", "password", "--spec", "{tmp}/tritonobs.yaml", "--region", "us west"],
         "--region 'us west': not an AWS region (write e.g. us-west-2)", (spec(),)),
    Case("models-sync-region", ["models", "sync", "--spec", "{tmp}/tritonobs.yaml", "--region", "../etc"],
         "--region '../etc': not an AWS region (write e.g. us-west-2)", (spec(),)),
    # --- Amazon Managed Prometheus: regions AMP serves, account ids, issuers, workspace ids ---
    Case("status-sigv4-region", ["status", "--spec", "{tmp}/tritonobs.yaml", "--sigv4-region", "us-wset-2"],
         "--sigv4-region: AMP (service aps) has no endpoint in region 'us-wset-2': write a region it serves (e.g. "
         "us-east-1, us-east-2, us-gov-east-1, us-gov-west-1)", (spec(),)),
    Case("verify-sigv4-region", ["verify", "--spec", "{tmp}/tritonobs.yaml", "--external-load", "--out", "{tmp}/out",
                                 "--sigv4-region", "eu-north-9"],
         "--sigv4-region: AMP (service aps) has no endpoint in region 'eu-north-9': write a region it serves (e.g. "
         "eu-central-1, eu-central-2, eu-north-1, eu-south-1)", (spec(),)),
    Case("check-queries-amp-workspace", ["check-queries", *S, "--prometheus",
                                         "http://127.0.0.1:9/workspaces/ws-12345678", "--sigv4-region", "us-west-2"],
         "Prometheus URL 'http://127.0.0.1:9/workspaces/ws-12345678': workspace 'ws-12345678' is not an AMP "
         "workspace id: expected ws- and a lowercase UUID, e.g. ws-b1c2d3e4-5f60-4a7b-8c9d-0e1f2a3b4c5d", (spec(),)),
    Case("iam-account", ["iam", "--spec", "{tmp}/tritonobs.yaml", "--account", "12345"],
         "--account '12345': an AWS account id is 12 digits", (spec(),)),
    Case("iam-oidc-issuer", ["iam", "--spec", "{tmp}/tritonobs.yaml", "--account", "111122223333", "--oidc-issuer",
                             "oidc.eks.example"],
         "--oidc-issuer 'oidc.eks.example': not an http(s) URL (the scheme must be http:// or https://): write e.g. "
         "https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B7", (spec(),)),
    # --- lab ---
    Case("lab-replicas-absurd", ["lab", "up", "--replicas", "1000000000"], "Invalid value for '--replicas' / '-n': "
         "Input should be less than or equal to 16 (see `tritonobs lab up --help`)"),
    Case("lab-max-num-seqs-zero", ["lab", "run", "--max-num-seqs", "0"], "Invalid value for '--max-num-seqs': Input "
         "should be greater than or equal to 1 (see `tritonobs lab run --help`)"),
    Case("lab-run-duration-zero", ["lab", "run", "--spec", "{tmp}/tritonobs.yaml", "--duration", "0s"],
         "--duration 0s: must be more than 0 and at most 1d", (spec(),)),
    Case("lab-run-repository-missing", ["lab", "run", "--spec", "{tmp}/tritonobs.yaml", "--model-repository",
         "{tmp}/nope"], "{tmp}/nope: model repository not found (check --model-repository)", (spec(),)),
    Case("lab-down-not-a-lab-dir", ["lab", "down", "--run-dir", "{tmp}/project"], "--run-dir {tmp}/project: not a "
         "lab run directory (none of state.json, lab.log, lab in it); nothing stopped or deleted",
         (write("project/precious.txt", "do not delete\n"),)),
    Case("lab-down-run-dir-file", ["lab", "down", "--run-dir", "{tmp}/notes.txt"], "--run-dir {tmp}/notes.txt: not "
         "a folder, so not a lab run directory; nothing stopped or deleted", (write("notes.txt", "x\n"),)),
    Case("lab-tiny-model-onto-file", ["lab", "tiny-model", "{tmp}/model"], "OUT_DIR {tmp}/model: is a file; name a "
         "folder", (write("model", "x\n"),)),
    Case("lab-vllm-model-missing", ["lab", "up", "--engine", "vllm", "--model", "{tmp}/no-model"],
         "{tmp}/no-model: model folder not found (check --model)"),
    # --- check-queries ---
    Case("check-queries-url", ["check-queries", "--prometheus", "127.0.0.1:9090", *S], "Prometheus URL "
         "'127.0.0.1:9090': expected http(s)://HOST:PORT, e.g. http://127.0.0.1:9090", (spec(),)),
    Case("check-queries-lookback-zero", ["check-queries", "--prometheus", "http://127.0.0.1:9090", *S, "--lookback",
         "0s"], "--lookback 0s: must be more than 0 and at most 30d", (spec(),)),
    Case("check-queries-unreachable", ["check-queries", "--prometheus", "http://127.0.0.1:{port}", *S],
         r"re:http://127\.0\.0\.1:{port}: Prometheus unreachable \(.*Connection refused.*\)", (spec(),), code=3,
         network=True),
    # --- client ---
    Case("client-concurrency-negative", ["client", "--model-name", "m", "--concurrency", "-1"],
         "--concurrency -1: must be at least 0"),
    Case("client-url-not-host-port", ["client", "--model-name", "m", "--url", "not a url"],
         "--url 'not a url': expected HOST:PORT, e.g. localhost:8001"),
    Case("client-url-with-scheme", ["client", "--model-name", "m", "-u", "http://localhost:8001"],
         "--url 'http://localhost:8001': expected HOST:PORT, e.g. localhost:8001 (no scheme: gRPC targets are written "
         "without http://)"),
    Case("client-url-port-zero", ["client", "--model-name", "m", "-u", "localhost:0"],
         "--url 'localhost:0': port 0 is outside 1-65535"),
    Case("client-iterations-absurd", ["client", "--model-name", "m", "--iterations", "1000000000"],
         "--iterations 1000000000: must be at most 100000"),
    Case("client-iterations-times-prompts", ["client", "--model-name", "m", "--iterations", "60000",
         "--input-prompts", "{tmp}/p.txt", "--results-file", "{tmp}/r.txt"], "--iterations 60000 x 2 prompts = 120000 "
         "requests; at most 100000 in one run (use `tritonobs load` for longer runs)", (write("p.txt", "a\nb\n"),)),
    Case("client-max-tokens-zero", ["client", "--model-name", "m", "--max-tokens", "0"],
         "--max-tokens 0: must be at least 1"),
    Case("client-stream-timeout-absurd", ["client", "--model-name", "m", "--stream-timeout", "99999999h"],
         "--stream-timeout 99999999h: must be at most 1d"),
    Case("client-prompts-binary", ["client", "--model-name", "m", "--input-prompts", "{tmp}/p.bin", "--results-file",
         "{tmp}/r.txt"], "{tmp}/p.bin:2: cannot read the prompts file: " + NOT_UTF8.format(byte="c3", col=6,
         what="prompts file"), (write("p.bin", b"hello\nworld\xc3\x28\n"),)),
    Case("client-prompts-folder", ["client", "--model-name", "m", "--input-prompts", "{tmp}", "--results-file",
         "{tmp}/r.txt"], "{tmp}: cannot read the prompts file: is a folder: name a file; pass "
         "--input-prompts FILE"),
    Case("client-results-is-folder", ["client", "--model-name", "m", "--results-file", "{tmp}"],
         "--results-file {tmp}: is a folder; name a file"),
    Case("client-unreachable", ["client", "--model-name", "m", "-u", "127.0.0.1:{port}", "--input-prompts",
         "{tmp}/p.txt", "--results-file", "{tmp}/r.txt"], r"re:127\.0\.0\.1:{port}: Triton gRPC endpoint not reachable "
         r"\(.*\)", (write("p.txt", "hi\n"),), code=3, network=True),
    # --- load ---
    Case("load-concurrency-zero", ["load", "--model", "m", "--concurrency", "0"], "--concurrency '0': stays at 0 for "
         "the whole --duration, so no request would be sent; give a value above 0"),
    Case("load-rate-absurd", ["load", "--model", "m", "--rate", "1000000000"], "--rate '1000000000': reaches 1e+09; "
         "at most 10000 requests/s"),
    Case("load-rate-nan", ["load", "--model", "m", "--rate", "nan"], "--rate 'nan' (constant): 'nan' must be a "
         "finite number >= 0"),
    Case("load-url-bad-ipv6", ["load", "--model", "m", "--rate", "1", "--url", "[::1:8001"], "--url '[::1:8001': "
         "expected HOST:PORT, e.g. localhost:8001 (write an IPv6 address in brackets: [::1]:8001)"),
    Case("load-connections-absurd", ["load", "--model", "m", "--rate", "1", "--connections", "1000000000"],
         "--connections 1000000000: must be at most 1000"),
    Case("load-duration-absurd", ["load", "--model", "m", "--rate", "1", "--duration", "99999h"],
         "--duration 99999h: must be at most 7d"),
    Case("load-drain-negative", ["load", "--model", "m", "--rate", "1", "--drain", "-1s"],
         "--drain: '-1s' is not a duration (write e.g. 30s, 2m, 500ms)"),
    Case("load-replay-not-utf8", ["load", "--model", "m", "--profile", "replay", "--rate", "{tmp}/t.csv"],
         "{tmp}/t.csv:3: cannot read the trace: " + NOT_UTF8.format(byte="ff", col=3, what="trace"),
         (write("t.csv", b"time_s,value\n0,1\n10\xff,2\n"),)),
    Case("load-replay-huge-field", ["load", "--model", "m", "--profile", "replay", "--rate", "{tmp}/t.csv"],
         "{tmp}/t.csv:2: not a CSV row (field larger than field limit (131072))",
         (write("t.csv", "time_s,value\n" + "1" * 200_000 + ",2\n"),)),
    Case("load-replay-too-high", ["load", "--model", "m", "--profile", "replay", "--concurrency", "{tmp}/t.csv"],
         "--concurrency '{tmp}/t.csv': reaches 1e+06; at most 10000 requests in flight",
         (write("t.csv", "time_s,value\n0,1\n10,1000000\n"),)),
    Case("load-out-is-folder", ["load", "--model", "m", "--rate", "1", "--out", "{tmp}"],
         "--out {tmp}: is a folder; name a file"),
    # --- simulate ---
    Case("simulate-trace-not-utf8", ["simulate", "--hpa", "{tmp}/hpa.yaml", "--metric-trace", "{tmp}/m.csv"],
         "{tmp}/m.csv:2: " + NOT_UTF8.format(byte="80", col=1, what="metric trace"),
         (write("hpa.yaml", HPA), write("m.csv", b"time_s,total_value\n\x80,1\n"))),
    Case("simulate-total-absurd", ["simulate", "--hpa", "{tmp}/hpa.yaml", "--metric-trace", "{tmp}/m.csv"],
         "{tmp}/m.csv:3: total_value 1e+300 is beyond what the HPA reads (int64 milli-values): at most 1e+15",
         (write("hpa.yaml", HPA), write("m.csv", "time_s,total_value\n0,1\n15,1e300\n"))),
    Case("simulate-sync-period-nan", ["simulate", "--hpa", "{tmp}/hpa.yaml", "--metric-trace", "{tmp}/m.csv",
         "--sync-period", "nan"], "--sync-period nan: must be a finite number",
         (write("hpa.yaml", HPA), write("m.csv", METRIC_TRACE))),
    Case("simulate-too-many-syncs", ["simulate", "--hpa", "{tmp}/hpa.yaml", "--metric-trace", "{tmp}/m.csv",
         "--sync-period", "0.001"], "--sync-period 0.001: the trace spans 1e+12 s, 1000000000000001 syncs; at most "
         "200000 (raise --sync-period or shorten the trace)",
         (write("hpa.yaml", HPA), write("m.csv", "time_s,total_value\n0,1\n1e12,2\n"))),
    Case("simulate-initial-replicas-int32", ["simulate", "--hpa", "x", "--metric-trace", "y", "--initial-replicas",
         "3000000000"], "Invalid value for '--initial-replicas': Input should be less than or equal to 2147483647 "
         "(see `tritonobs simulate --help`)"),
    Case("simulate-hpa-quantity-absurd", ["simulate", "--hpa", "{tmp}/hpa.yaml", "--metric-trace", "{tmp}/m.csv"],
         "{tmp}/hpa.yaml:35: spec.metrics[0].pods.target.averageValue: '1e999999999': exponent out of range (a "
         "quantity stays within int64 milli-units)",
         (write("hpa.yaml", re.sub(r"averageValue: .*", "averageValue: 1e999999999", HPA)), write("m.csv", METRIC_TRACE))),
    Case("simulate-hpa-alias-bomb", ["simulate", "--hpa", "{tmp}/hpa.yaml", "--metric-trace", "{tmp}/m.csv"],
         "{tmp}/hpa.yaml:48: aliases expand this file beyond 100000 values (a YAML 'billion laughs' bomb?): write the "
         "values out or use fewer aliases", (write("hpa.yaml", HPA + BOMB), write("m.csv", METRIC_TRACE)),
         adversarial=True),
    # --- verify ---
    Case("verify-url-port", ["verify", "--spec", "{tmp}/tritonobs.yaml", "--url", "lb:99999", "--rate", "1"],
         "--url 'lb:99999': port 99999 is outside 1-65535", (spec(),)),
    Case("verify-discover", ["verify", "--spec", "{tmp}/tritonobs.yaml", "--discover", "svc", "--rate", "1"],
         "--discover 'svc': expected HOST:PORT, e.g. triton-grpc.triton-vllm.svc.cluster.local:8001", (spec(),)),
    Case("verify-prometheus-url", ["verify", "--spec", "{tmp}/tritonobs.yaml", "--url", "lb:8001", "--rate", "1",
         "--prometheus-url", "http://"], "Prometheus URL 'http://': expected http(s)://HOST:PORT, e.g. "
         "http://127.0.0.1:9090", (spec(),)),
    Case("verify-time-factor-inf", ["verify", "--spec", "{tmp}/tritonobs.yaml", "--lab", "--time-factor", "inf"],
         "--time-factor inf: must be a finite number", (spec(),)),
    Case("verify-interval-nan", ["verify", "--spec", "{tmp}/tritonobs.yaml", "--url", "lb:8001", "--rate", "1",
         "--interval", "nan"], "--interval nan: must be a finite number", (spec(),)),
    Case("verify-connections-negative", ["verify", "--spec", "{tmp}/tritonobs.yaml", "--url", "lb:8001", "--rate",
         "1", "--connections", "-1"], "--connections -1: must be at least 0", (spec(),)),
    Case("verify-never-sends", ["verify", "--spec", "{tmp}/tritonobs.yaml", "--url", "lb:8001", "--profile", "constant", "--concurrency", "0",
         "--kubeconfig", "{tmp}/kc"], "--concurrency '0': stays at 0 for the whole --duration, so no request would be "
         "sent; give a value above 0", (spec(), write("kc", KUBECONFIG))),
    Case("verify-drive-not-in-spec", ["verify", "--spec", "{tmp}/tritonobs.yaml", "--url", "lb:8001", "--rate", "1",
         "--drive", "gpt5", "--kubeconfig", "{tmp}/kc"], "{tmp}/tritonobs.yaml: --drive 'gpt5': not in the spec "
         "(models: llama2, mistral7b)", (spec(), write("kc", KUBECONFIG))),
    Case("verify-out-is-file", ["verify", "--spec", "{tmp}/tritonobs.yaml", "--lab", "--out", "{tmp}/tritonobs.yaml"],
         "--out {tmp}/tritonobs.yaml: is a file; name a folder", (spec(),)),
    # --- lint / preview / diff ---
    Case("lint-json-broken", ["lint", "{tmp}/d.json"], "d.json:2: not valid JSON: Expecting value (column 1)",
         (write("d.json", '{"panels": [\n'),)),
    Case("lint-not-a-lint-file", ["lint", "{tmp}/x.txt"], "x.txt: not a file lint reads: name a dashboard .json or a "
         ".yaml (ConfigMap, rules, adapter, HPA, ScaledObject)", (write("x.txt", "x\n"),)),
    Case("lint-yaml-holds-nothing", ["lint", "{tmp}/a.yaml"], "a.yaml: holds no dashboard, rules, adapter rules, HPA "
         "or ScaledObject; name such a file", (write("a.yaml", "foo: 1\n"),)),
    Case("lint-configmap-json-broken", ["lint", "{tmp}/cm.yaml"], "cm.yaml:7: not valid JSON: Expecting ',' "
         "delimiter (column 20)", (write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\ndata:\n"
                                        "  d.json: |\n    {\n      \"title\": \"x\" \"panels\": []\n    }\n"),)),
    Case("lint-config-unknown-rule", ["lint", "-c", "{tmp}/l.yaml", "{tmp}/d.json"],
         "{tmp}/l.yaml:2: exclusions.no-such-rule: no such rule (see `tritonobs lint --rules`)",
         (write("l.yaml", "exclusions:\n  no-such-rule: {}\n"), write("d.json", '{"panels": []}\n'))),
    Case("lint-config-job-instance", ["lint", "-c", "{tmp}/l.yaml", "{tmp}/d.json"],
         "{tmp}/l.yaml:2: settings.job_instance: 'sometimes'; use auto, on or off",
         (write("l.yaml", "settings:\n  job_instance: sometimes\n"), write("d.json", '{"panels": []}\n'))),
    Case("preview-out-is-file", ["preview", "--out", "{tmp}/f", "{tmp}/d.json"], "--out {tmp}/f: is a file; name a folder",
         (write("f", "x"), write("d.json", '{"panels": []}\n'))),
    Case("preview-to-bad", ["preview", "--out", "{tmp}/o", "--prometheus", "http://127.0.0.1:9", "--to", "soon",
                            "{tmp}/d.json"], "--to 'soon': write now, a duration ago (e.g. 5m) or unix seconds",
         (write("d.json", '{"panels": []}\n'),)),
    Case("diff-not-a-repository", ["diff", "--repo", "{tmp}"],
         "re:git rev-parse --show-toplevel: fatal: not a git repository.*"),
    Case("verify-compare-unknown", ["verify", "--spec", "{tmp}/tritonobs.yaml", "--lab", "--compare", "oracle"],
         "--compare 'oracle': a comma-separated list of distinct policies from reactive, predictive, warm", (spec(),)),
    Case("verify-compare-cluster", ["verify", "--spec", "{tmp}/tritonobs.yaml", "--url", "lb:8001", "--rate", "1",
         "--compare", "reactive"], "--compare runs the lab once per policy: it needs --lab", (spec(),)),
    Case("verify-capacity-nan", ["verify", "--spec", "{tmp}/tritonobs.yaml", "--lab", "--capacity", "nan"],
         "--capacity nan: must be a finite number", (spec(),)),
    Case("verify-diurnal-bad", ["verify", "--spec", "{tmp}/tritonobs.yaml", "--lab", "--profile", "diurnal",
         "--concurrency", "12:3:240s"], "--concurrency '12:3:240s' (diurnal): need 0 <= LOW <= HIGH and DAY > 0",
         (spec(),)),
    Case("verify-load-job-without-external", ["verify", "--spec", "{tmp}/tritonobs.yaml", "--url", "lb:8001",
         "--rate", "1", "--load-job", "my-load"], "--load-job names the Job of --external-load: add --external-load",
         (spec(),)),
    Case("verify-load-job-bad-name", ["verify", "--spec", "{tmp}/tritonobs.yaml", "--external-load", "--load-job",
         "My_Load"], "--load-job 'My_Load': not a Job name (lowercase letters, digits and '-', at most 63)", (spec(),)),
    Case("verify-shard-without-load-only", ["verify", "--spec", "{tmp}/tritonobs.yaml", "--lab", "--shard", "0/2"],
         "--shard is for --load-only (the load Job's pods)", (spec(),)),
    # --- tune ---
    Case("tune-no-target", ["tune", "--spec", "{tmp}/tritonobs.yaml"], "give exactly one of --lab or --url HOST:PORT",
         (spec(),)),
    Case("tune-url-port", ["tune", "--spec", "{tmp}/tritonobs.yaml", "--url", "h:0"],
         "--url 'h:0': port 0 is outside 1-65535", (spec(),)),
    Case("tune-levels", ["tune", "--spec", "{tmp}/tritonobs.yaml", "--lab", "--levels", "4,2"],
         "--levels '4,2': at least two increasing whole numbers from 1 to 4096", (spec(),)),
    Case("tune-step-zero", ["tune", "--spec", "{tmp}/tritonobs.yaml", "--lab", "--step", "0s"],
         "--step 0s: must be more than 0", (spec(),)),
    Case("tune-signal-latency", ["tune", "--spec", "{tmp}/tritonobs.yaml", "--lab", "--signal", "ttft_p90"],
         "tune measures waiting_requests and inflight_requests (engine gauges); 'ttft_p90' is not one: pass --signal",
         (spec(),)),
    # --- load shares ---
    Case("load-shard", ["load", "--url", "h:8001", "--model", "m", "--concurrency", "4", "--shard", "2/2"],
         "--shard '2/2': need 0 <= INDEX < COUNT <= 256", ()),
    Case("load-processes-zero", ["load", "--url", "h:8001", "--model", "m", "--concurrency", "4", "--processes", "0"],
         "--processes 0: must be at least 1", ()),
]
