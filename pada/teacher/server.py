"""The embedded teacher as llama.cpp's own HTTP server (``llama-server``), started and watched by pada.

``make setup`` builds ``llama-server`` once per CPU tier from the llama.cpp tree inside the
llama-cpp-python source distribution and installs it into the virtual environment
(``.venv/bin/llama-server``, its shared libraries in ``.venv/lib/llama-server/``). pada starts it on a
free loopback port with ``parallel`` slots (continuous batching: the calls in flight are decoded
together), reuse of cached prompt prefixes across requests, and the GGUF from the asset cache; pada
then talks to it like to any OpenAI-compatible endpoint. The server is pada's child: it is stopped
when the context closes, at interpreter exit, on SIGTERM, and (on Linux) when pada itself dies, even by
SIGKILL. If it dies during a run, :meth:`LlamaServer.ensure_running` starts it again on the same port,
so calls that failed with it are retried against the new process and nothing already answered is
asked twice (the answers are in DSPy's cache).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pada.errors import PadaError

log = logging.getLogger(__name__)

#: Servers started by this process and not yet stopped; stopped at exit whatever happens.
_RUNNING: set[LlamaServer] = set()
_RUNNING_LOCK = threading.Lock()

#: Environment for llama.cpp processes. Its CPU backend runs on OpenMP (libgomp), whose threads meet
#: at a barrier after every operation of every token. Spinning there for long burns the time slice a
#: partner needs when anything else wants the cores (the student, the embedder): decoding was measured
#: 4x slower on two busy cores with libgomp's default spin, and ~30% slower on idle cores with no spin
#: at all. A short spin before sleeping keeps most of both. A value the user exported wins.
LLAMA_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "1000"}

#: The environment variable that names a ``llama-server`` binary explicitly.
BINARY_ENV = "PADA_LLAMA_SERVER"


class LlamaServerError(PadaError):
    """The embedded teacher server could not be found or started."""


def llama_env(binary: Path | None = None) -> dict[str, str]:
    """The environment for a llama.cpp subprocess: ours, :data:`LLAMA_ENV` added, its libraries found."""
    env = {**LLAMA_ENV, **os.environ}
    if binary is not None:
        libs = [str(d) for d in library_dirs(binary) if d.is_dir()]
        if libs:
            env["LD_LIBRARY_PATH"] = os.pathsep.join([*libs, env.get("LD_LIBRARY_PATH", "")]).rstrip(
                os.pathsep
            )
    return env


def library_dirs(binary: Path) -> list[Path]:
    """Where a ``llama-server`` binary's shared libraries may be: beside it, or in ``../lib/llama-server``."""
    binary = binary.resolve()
    return [binary.parent, binary.parent.parent / "lib" / "llama-server"]


def find_binary(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The ``llama-server`` to run.

    Looked for, in order: ``explicit`` (the ``teacher.server_binary`` config key), the
    ``PADA_LLAMA_SERVER`` environment variable, beside the running Python (the virtual environment's
    ``bin/``, where ``make setup`` installs it), and ``PATH``.

    Raises:
        LlamaServerError: None of these names an executable file.
    """
    candidates: list[tuple[str, Path]] = []
    if explicit:
        candidates.append(("config key `teacher.server_binary`", Path(os.path.expanduser(explicit))))
    if os.environ.get(BINARY_ENV):
        candidates.append((f"${BINARY_ENV}", Path(os.path.expanduser(os.environ[BINARY_ENV]))))
    for origin, path in candidates:  # an explicit choice that is wrong is an error, not a fallback
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise LlamaServerError(f"{origin} = {str(path)!r} is not an executable llama-server binary.")
        return path
    beside = Path(sys.executable).parent / "llama-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    on_path = shutil.which("llama-server")
    if on_path:
        return Path(on_path)
    raise LlamaServerError(
        "the embedded teacher needs llama.cpp's `llama-server`, and none was found (looked beside "
        f"{sys.executable}, on PATH and in ${BINARY_ENV}). `make setup` builds it once per CPU tier "
        "(about 15 minutes on 2 cores) and installs it into the virtual environment."
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def default_threads() -> int:
    """Threads for llama.cpp: every core this process may use (llama.cpp's own default is half)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


#: The one thread that starts servers. Linux sends the parent-death signal when the *thread* that
#: forked the child ends, not the process: a server restarted from a short-lived worker thread was
#: killed as soon as that thread finished. This thread lives as long as the process.
_LAUNCHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pada-llama-server-launcher")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    # Linux only: the server is killed when pada dies (even by SIGKILL), so no orphan keeps the cores.
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except Exception:
        pass


class LlamaServer:
    """One ``llama-server`` process serving one GGUF on loopback.

    Args:
        model_path: The GGUF file.
        parallel: Slots: requests decoded together (``--parallel``); each slot has ``n_ctx`` tokens.
        n_ctx: Context length per slot, in tokens.
        n_threads: CPU threads (``None``: every core this process may use).
        alias: The model name the server answers to.
        binary: The ``llama-server`` to run (``None``: :func:`find_binary`).
        log_path: Where the server's output goes (``None``: discarded).
        startup_timeout_s: How long to wait for ``/health`` to answer ``ok``.
        extra_args: More command-line arguments, appended as given (``teacher.server_args``).
        command: The whole command line, for a stand-in server in tests; ``{port}`` is filled in.
    """

    def __init__(
        self,
        model_path: str | Path | None,
        parallel: int = 1,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        alias: str = "teacher",
        binary: str | Path | None = None,
        log_path: str | Path | None = None,
        startup_timeout_s: float = 180.0,
        extra_args: Sequence[str] = (),
        command: Sequence[str] | None = None,
    ) -> None:
        self.model_path = Path(model_path) if model_path else None
        self.parallel = max(1, int(parallel))
        self.n_ctx = int(n_ctx)
        self.n_threads = n_threads or default_threads()
        self.alias = alias
        self._binary = binary
        self.log_path = Path(log_path) if log_path else None
        self.startup_timeout_s = startup_timeout_s
        self.extra_args = list(extra_args)
        self._command = list(command) if command else None
        self.port: int | None = None
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file = None
        self._lock = threading.RLock()
        self._closed = False

    @property
    def api_base(self) -> str:
        """The OpenAI-compatible base URL (``http://127.0.0.1:<port>/v1``)."""
        if self.port is None:
            raise LlamaServerError("the local teacher server has not been started")
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        """The server process's id while it runs."""
        return self._proc.pid if self._proc is not None else None

    def command(self, port: int) -> list[str]:
        """The server's command line for ``port``."""
        if self._command:
            return [part.replace("{port}", str(port)) for part in self._command]
        assert self.model_path is not None
        return [
            str(find_binary(self._binary)),
            "--model", str(self.model_path),
            "--alias", self.alias,
            "--host", "127.0.0.1",
            "--port", str(port),
            "--parallel", str(self.parallel),
            # The KV cache holds every slot's context: n_ctx tokens each.
            "--ctx-size", str(self.n_ctx * self.parallel),
            "--threads", str(self.n_threads),
            "--threads-batch", str(self.n_threads),
            # Reuse a cached prompt prefix in chunks of 256 tokens, also after a shift.
            "--cache-reuse", "256",
            "--no-webui",
            *self.extra_args,
        ]  # fmt: skip

    def start(self) -> LlamaServer:
        """Start the server on a free port and wait until it answers; return self.

        Raises:
            LlamaServerError: No binary, no GGUF, or the server exited or did not answer in time (the
                message quotes the end of its log).
        """
        with self._lock:
            if self._command is None and (self.model_path is None or not self.model_path.is_file()):
                raise LlamaServerError(f"the teacher GGUF {self.model_path} does not exist")
            self._closed = False
            self._launch(free_port())
        return self

    def _launch(self, port: int) -> None:
        command = self.command(port)
        self.port = port
        if self.log_path and self._log_file is None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = self.log_path.open("ab")
        out = self._log_file or subprocess.DEVNULL
        log.info("starting the local teacher server on %s (%d slots)", self.api_base, self.parallel)
        binary = Path(command[0]) if self._command is None else None
        self._proc = _LAUNCHER.submit(
            subprocess.Popen,  # fixed arguments, loopback only
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=llama_env(binary),
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        ).result()
        with _RUNNING_LOCK:
            _RUNNING.add(self)
        try:
            self._wait_ready()
        except BaseException:
            self._terminate()
            raise

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout_s
        url = f"http://127.0.0.1:{self.port}/health"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise LlamaServerError(
                    f"the local teacher server exited with code {self._proc.returncode}.{self._log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback only
                    if resp.status == 200:
                        log.info("local teacher server ready on %s", self.api_base)
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass  # not listening yet, or 503 while the model loads
            time.sleep(0.2)
        waited = f"{self.startup_timeout_s:.0f} s"
        raise LlamaServerError(f"the local teacher server did not answer within {waited}.{self._log_tail()}")

    def _log_tail(self) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        if self._log_file:
            self._log_file.flush()
        tail = self.log_path.read_text(errors="replace").strip().splitlines()[-8:]
        return " Server log (end):\n" + "\n".join(tail)

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def ensure_running(self) -> bool:
        """Start the server again, on the same port, if it died; return whether it was restarted.

        Called before each teacher call and after each failed one, from any thread: concurrent
        callers wait for one restart. A server stopped on purpose is not restarted.

        Raises:
            LlamaServerError: It could not be started again.
        """
        if self.running or self._closed:
            return False
        with self._lock:
            if self.running or self._closed or self.port is None:
                return False
            code = self._proc.returncode if self._proc is not None else None
            log.warning("the local teacher server died (exit code %s); starting it again", code)
            self.restarts += 1
            try:  # the same port, so that clients holding the old address reach the new process
                self._launch(self.port)
            except (LlamaServerError, OSError) as exc:
                log.warning("could not restart on port %s (%s); trying another port", self.port, exc)
                self._launch(free_port())  # clients read api_base afresh for every call
            return True

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s); safe to call twice."""
        with self._lock:
            self._closed = True
            was_running = self.running
            self._terminate()
            with _RUNNING_LOCK:
                _RUNNING.discard(self)
            if was_running:
                log.info("local teacher server stopped")
            if self._log_file:
                self._log_file.close()
                self._log_file = None

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def running_servers() -> list[LlamaServer]:
    """The servers this process has started and not stopped."""
    with _RUNNING_LOCK:
        return list(_RUNNING)


@atexit.register
def stop_all() -> None:
    """Stop every server this process started (at exit, and on SIGTERM through ``python -m pada``)."""
    for server in running_servers():
        with contextlib.suppress(Exception):
            server.stop()
