"""The embedded teacher as an OpenAI-compatible llama.cpp server on loopback, started and stopped by pada.

``python -m llama_cpp.server`` (from ``llama-cpp-python``) serves the GGUF on ``127.0.0.1`` at a free
port; DSPy then talks to it like any OpenAI-compatible endpoint. The server is pada's child: it is
stopped when the context closes, at interpreter exit, and (on Linux) when pada itself dies.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from pada.errors import PadaError

log = logging.getLogger(__name__)

#: Servers started by this process and not yet stopped; stopped at exit whatever happens.
_RUNNING: set[LocalServer] = set()

#: Environment for llama.cpp processes. llama-cpp-python's CPU backend runs on OpenMP (libgomp), whose
#: threads meet at a barrier after every operation of every token. Spinning there for long burns the
#: time slice a partner needs when anything else wants the cores (the student, the embedder, another
#: job): decoding was measured 4x slower on two busy cores with libgomp's default spin. Not spinning
#: at all (a passive wait) costs ~30% when the cores are idle, as every barrier goes through the
#: kernel. A short spin before sleeping keeps most of both: see ``bench/teacher_decode.py``.
#: A value the user exported wins.
LLAMA_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "1000"}


def llama_env() -> dict[str, str]:
    """The environment for a llama.cpp subprocess: ours, with :data:`LLAMA_ENV` defaults added."""
    return {**LLAMA_ENV, **os.environ}


class LocalServerError(PadaError):
    """The embedded teacher server could not be started."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    # Linux only: the server is killed when pada dies (even by SIGKILL), so no orphan keeps the cores.
    # SIGKILL, not SIGTERM: on SIGTERM uvicorn first finishes the request in flight, which on a busy
    # CPU can take minutes.
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except Exception:
        pass


def default_threads() -> int:
    """Threads for llama.cpp: every core this process may use (llama.cpp's own default is half)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class LocalServer:
    """A ``llama_cpp.server`` subprocess serving one GGUF.

    Args:
        model_path: The GGUF file.
        alias: The model name the server answers to (``/v1/models``).
        n_ctx: Context length in tokens.
        n_threads: CPU threads (``None``: all available cores).
        log_path: Where the server's output goes (``None``: discarded).
        startup_timeout_s: How long to wait for ``/v1/models`` to answer.
    """

    def __init__(
        self,
        model_path: str | Path,
        alias: str = "teacher",
        n_ctx: int = 4096,
        n_threads: int | None = None,
        log_path: str | Path | None = None,
        startup_timeout_s: float = 180.0,
    ) -> None:
        self.model_path = Path(model_path)
        self.alias = alias
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self.log_path = Path(log_path) if log_path else None
        self.startup_timeout_s = startup_timeout_s
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file = None

    @property
    def api_base(self) -> str:
        """The OpenAI-compatible base URL (``http://127.0.0.1:<port>/v1``)."""
        if self.port is None:
            raise LocalServerError("the local teacher server is not running")
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self, port: int) -> list[str]:
        """The server's command line."""
        return [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model_path),
            "--model_alias", self.alias,
            "--host", "127.0.0.1",
            "--port", str(port),
            "--n_ctx", str(self.n_ctx),
            "--n_threads", str(self.n_threads),
            "--n_threads_batch", str(self.n_threads),
        ]  # fmt: skip

    def start(self) -> LocalServer:
        """Start the server and wait until it answers; return self.

        Raises:
            LocalServerError: llama-cpp-python is missing, the GGUF is missing, or the server exited or
                did not answer in time (the message quotes the end of its log).
        """
        try:
            import llama_cpp  # noqa: F401
        except ImportError as exc:
            raise LocalServerError(
                "the embedded teacher needs llama-cpp-python and its server extras: "
                "`pip install -e '.[local-teacher]'` (builds llama.cpp once, 5-7 minutes)."
            ) from exc
        if not self.model_path.is_file():
            raise LocalServerError(f"the teacher GGUF {self.model_path} does not exist")
        self.port = free_port()
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = self.log_path.open("ab")
        out = self._log_file or subprocess.DEVNULL
        log.info("starting the local teacher server on %s (%s)", self.api_base, self.model_path.name)
        self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
            self.command(self.port),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=llama_env(),
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,  # noqa: PLW1509
        )
        _RUNNING.add(self)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout_s
        url = f"{self.api_base}/models"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise LocalServerError(
                    f"the local teacher server exited with code {self._proc.returncode}.{self._log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback only
                    if resp.status == 200:
                        log.info("local teacher server ready on %s", self.api_base)
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.25)
        raise LocalServerError(
            f"the local teacher server did not answer within {self.startup_timeout_s:.0f} s."
            f"{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        if self._log_file:
            self._log_file.flush()
        tail = self.log_path.read_text(errors="replace").strip().splitlines()[-8:]
        return " Server log (end):\n" + "\n".join(tail)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s); safe to call twice."""
        proc, self._proc = self._proc, None
        _RUNNING.discard(self)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            log.info("local teacher server stopped")
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    @property
    def running(self) -> bool:
        """Whether the subprocess is alive."""
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@atexit.register
def _stop_all() -> None:
    for server in list(_RUNNING):
        with contextlib.suppress(Exception):
            server.stop()
