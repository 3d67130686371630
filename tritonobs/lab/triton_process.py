"""Start, wait for, and stop one real tritonserver replica (the 2.51 binary in the nvidia-pytriton wheel).

    with TritonProcess(repository, ["llama2"]) as triton:     # free loopback ports, waits for Ready
        client = grpcclient.InferenceServerClient(triton.grpc_target)
        ...                                                  # stopped on exit, even on failure

The recipe (docs/facts.md): run the binary in place (its RPATH finds the bundled libraries); give it a
private backends folder holding the Python backend plus the stub for this interpreter's version, with
LD_LIBRARY_PATH pointing at the bundled libraries the copied backend can no longer find by RPATH; put
this interpreter's bin folder first on PATH (the stub ignores PYTHONPATH); explicit model control;
every listener on 127.0.0.1. Each replica gets its own shared-memory prefix, so what a crash leaves in
/dev/shm is found and removed by prefix, never touching another replica's files.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from tritonobs import http
from tritonobs.core.errors import ExternalError, UsageError
from tritonobs.lab.procs import LOOPBACK, SHM_DIR, TRITON_SHM_PREFIX, free_port, group_pids, spawn, stop_group

# Readiness probes poll: no retry inside a probe (tritonobs.http's policy keeps them off any proxy).


@dataclass(frozen=True)
class TritonPorts:
    http: int
    grpc: int
    metrics: int

    @classmethod
    def free(cls) -> TritonPorts:
        ports: set[int] = set()
        while len(ports) < 3:
            ports.add(free_port())
        http, grpc, metrics = sorted(ports)
        return cls(http, grpc, metrics)


@dataclass(frozen=True)
class TritonInstall:
    """Where the wheel keeps the server, the Python backend, the stubs and the bundled libraries."""

    server: Path
    python_backend: Path  # folder with libtriton_python.so and triton_python_backend_utils.py
    stub: Path  # triton_python_backend_stub built for this interpreter's Python version
    libs: Path

    @classmethod
    def find(cls) -> TritonInstall:
        spec = importlib.util.find_spec("pytriton")
        if spec is None or not spec.submodule_search_locations:
            raise UsageError("tritonserver not found: install the lab extra (pip install 'tritonobs[lab]')")
        root = Path(next(iter(spec.submodule_search_locations))) / "tritonserver"
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        install = cls(
            server=root / "bin" / "tritonserver",
            python_backend=root / "backends" / "python",
            stub=root / "python_backend_stubs" / version / "triton_python_backend_stub",
            libs=root.parent.parent / "nvidia_pytriton.libs",
        )
        for path in (install.server, install.python_backend, install.stub, install.libs):
            if not path.exists():
                raise UsageError(f"incomplete nvidia-pytriton install (Python {version}): {path} is missing")
        return install


def install_file(source: Path, target: Path) -> None:
    """Copy beside `target`, then rename over it. A restarted replica reuses its folder, and a stub of the
    killed server may still be exiting: writing into the running executable fails (ETXTBSY), while a
    rename leaves the old process its own inode."""
    partial = target.with_name(f".{target.name}.partial")
    shutil.copy2(source, partial)
    os.replace(partial, target)


@functools.cache
def python_libdir(python: Path) -> str | None:
    """The folder holding `python`'s own libpython, when it has one.

    The stub links libpython3.X.so by name; the loader may find another build of the same minor version
    (Debian's 3.11.2 beside a pyenv 3.11.7) whose C API lacks symbols the interpreter's own extension
    modules use (`_ssl`: undefined symbol _PyModule_Add). Putting the interpreter's LIBDIR first makes the
    stub embed the very Python whose standard library and site-packages it runs."""
    try:
        out = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR') or '')"],
                             capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return out if out and any(Path(out).glob(f"libpython{version}.so*")) else None


class TritonProcess:
    """One tritonserver replica serving `models` from `repository`, reachable on loopback only."""

    def __init__(
        self,
        repository: Path,
        models: Sequence[str],
        *,
        ports: TritonPorts | None = None,
        workdir: Path | None = None,
        env: Mapping[str, str] | None = None,
        ready_timeout: float = 60.0,
        extra_args: Sequence[str] = (),
        python: Path | None = None,
    ) -> None:
        """`workdir` keeps the private backends folder and `triton.log`; by default a temporary folder
        removed by stop(). `env` adds variables (e.g. the one named by hf_token_env); never logged.
        `python`: the interpreter whose environment the model code runs in (the stub finds it on PATH),
        e.g. the real-engine lab's vLLM venv; by default this one."""
        self.repository = Path(repository).resolve()
        self.models = list(models)
        self.ports = ports or TritonPorts.free()
        self.ready_timeout = ready_timeout
        self.extra_args = list(extra_args)
        self._env = dict(env or {})
        self._python = Path(python) if python else Path(sys.executable)
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="tritonobs-triton-"))
        self.log_path = self.workdir / "triton.log"
        # Unique per live replica (the HTTP port is ours while it runs) and still under the python
        # backend's usual prefix, so generic leftover checks (lab.procs.shm_regions) find it too.
        self.shm_prefix = f"{TRITON_SHM_PREFIX}tobs{os.getpid()}_{self.ports.http}_"
        self._proc: subprocess.Popen[bytes] | None = None

    # --- addresses ---
    @property
    def http_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.http}"

    @property
    def grpc_target(self) -> str:
        return f"{LOOPBACK}:{self.ports.grpc}"

    @property
    def metrics_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.metrics}/metrics"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def exit_code(self) -> int | None:
        """The server's exit code once it has exited (negative: killed by that signal); None while it runs."""
        return self._proc.poll() if self._proc is not None else None

    def ready(self, timeout: float = 1.0) -> bool:
        """Triton's readiness probe (/v2/health/ready), as a kubelet would call it."""
        return self._ok("/v2/health/ready", timeout)

    # --- lifecycle ---
    def command(self, install: TritonInstall, backends: Path) -> list[str]:
        return [
            str(install.server),
            f"--model-repository={self.repository}",
            f"--backend-directory={backends}",
            "--model-control-mode=explicit",
            *(f"--load-model={m}" for m in self.models),
            f"--http-address={LOOPBACK}",
            f"--http-port={self.ports.http}",
            f"--grpc-address={LOOPBACK}",
            f"--grpc-port={self.ports.grpc}",
            f"--metrics-address={LOOPBACK}",
            f"--metrics-port={self.ports.metrics}",
            "--allow-gpu-metrics=false",
            "--exit-timeout-secs=5",
            f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}",
            *self.extra_args,
        ]

    def start(self) -> TritonProcess:
        """Launch and wait until the server and every model are ready. Raises ExternalError (exit 3)
        naming the endpoint, with the end of the server log, if it dies or times out; cleans up."""
        install = TritonInstall.find()
        backends = self.workdir / "backends"
        private = backends / "python"
        private.mkdir(parents=True, exist_ok=True)
        for item in install.python_backend.iterdir():
            if item.is_file():
                install_file(item, private / item.name)
        install_file(install.stub, private / install.stub.name)
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(self._python.parent), env.get("PATH", "")])
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            p for p in (python_libdir(self._python), str(install.libs), env.get("LD_LIBRARY_PATH")) if p
        )
        env.update(self._env)
        self._proc = spawn(self.command(install, backends), self.log_path, env)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        paths = ["/v2/health/ready", *(f"/v2/models/{m}/ready" for m in self.models)]
        deadline = time.monotonic() + self.ready_timeout
        while paths:
            assert self._proc is not None
            code = self._proc.poll()
            if code is not None:
                raise ExternalError(
                    f"tritonserver {self.http_url}",
                    f"exited with code {code} before ready: {self.log_tail()}",
                )
            if time.monotonic() > deadline:
                raise ExternalError(
                    f"tritonserver {self.http_url}{paths[0]}",
                    f"not ready after {self.ready_timeout:g}s: {self.log_tail()}",
                )
            if self._ok(paths[0]):
                paths.pop(0)
            else:
                time.sleep(0.1)

    def _ok(self, path: str, timeout: float = 2.0) -> bool:
        try:
            status, _ = http.probe(self.http_url + path, timeout=timeout)
        except http.Unreachable:
            return False
        return status == 200

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the process group (Triton unloads models and finalizes stubs; stubs themselves ignore
        SIGTERM), SIGKILL whatever is left after `timeout`, then remove this replica's shm files."""
        if self._proc is not None:
            stop_group(self._proc, timeout=timeout)
            self._proc = None
        for leftover in self.leftover_shm():
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def leftover_shm(self) -> list[Path]:
        return sorted(SHM_DIR.glob(self.shm_prefix + "*"))

    def processes(self) -> list[int]:
        """Live pids of this replica: the server and its Python backend stubs (one process group)."""
        return group_pids(self._proc.pid) if self._proc else []

    def log_tail(self, lines: int = 8) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return (
            " | ".join(line.strip() for line in text.splitlines()[-lines:] if line.strip()) or "(empty log)"
        )

    def __enter__(self) -> TritonProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
