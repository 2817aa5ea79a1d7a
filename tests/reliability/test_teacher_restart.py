"""The embedded teacher's server is killed mid-run: pada starts it again and the run finishes, whole.

The server is the stand-in ``llama-server`` (the fixture teacher behind llama-server's command line),
so the test drives pada's real server lifecycle and the one OpenAI-compatible path in seconds. The
same happens with the real binary in ``tests/agents/test_local_teacher.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.loop.test_run_end_to_end import LOOP_BUDGETS, read_jsonl

pytestmark = pytest.mark.assets  # the real scireason data and MiniLM embedder


def server_children(parent: int) -> list[int]:
    """Pids of the stand-in servers whose parent is ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        ppid = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:")), -1)
        state = next((line.split()[1] for line in status.splitlines() if line.startswith("State:")), "")
        if ppid == parent and "teacher_server.py" in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def local_args(binary: Path, gguf: Path, run_dir: Path, call_log: Path) -> list[str]:
    return [
        sys.executable, "-m", "pada", "+experiment=smoke", "model=tiny_random", *LOOP_BUDGETS,
        "teacher=local", f"teacher.model={gguf}", f"teacher.server_binary={binary}",
        f"teacher.server_args=[--call-log,{call_log}]", "teacher.num_retries=0", "logger=none",
        "export_merged=false", f"hydra.run.dir={run_dir}",
    ]  # fmt: skip


def test_a_killed_server_is_restarted_and_the_run_loses_nothing(tmp_path, stand_in_llama_server):
    gguf = tmp_path / "teacher.gguf"
    gguf.write_bytes(b"GGUF")
    call_log = tmp_path / "calls.log"
    run_dir = tmp_path / "run"
    args = local_args(stand_in_llama_server, gguf, run_dir, call_log)
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    killed = None
    deadline = time.time() + 300
    # Kill the server once the run is writing items (its strategies are drafted).
    while time.time() < deadline and proc.poll() is None and killed is None:
        if (run_dir / "round_0" / "draft_strategies" / "manifest.json").exists():
            for pid in server_children(proc.pid):
                os.kill(pid, signal.SIGKILL)
                killed = pid
        time.sleep(0.02)
    _, err = proc.communicate(timeout=300)
    assert killed is not None, "the run ended before the server could be killed"
    assert proc.returncode == 0, err[-3000:]

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished"
    r0 = metrics["rounds"][0]
    # No item lost: the budget is met and every requested item was accepted, rejected or failed.
    assert r0["accepted"] == metrics["final"]["synthetic_items"] == 4
    assert r0["requested"] == r0["accepted"] + r0["rejected"] + r0["failed"]
    samples = read_jsonl(run_dir / "round_0" / "generate" / "samples.jsonl")
    assert len({s["id"] for s in samples}) == len(samples)
    # The server was started again, and no request was answered twice (by either process).
    log = (run_dir / "pada.log").read_text()
    assert "the local teacher server died" in log
    assert log.count("starting the local teacher server") == 2
    answered = Counter(line.split()[1] for line in call_log.read_text().splitlines())
    assert answered and max(answered.values()) == 1
    # Nothing is left running.
    assert not server_children(proc.pid)


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie waiting to be reaped does not)."""
    try:
        return " Z " not in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:4]
    except (FileNotFoundError, IndexError):
        return False


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_no_server_outlives_an_interrupted_run(tmp_path, stand_in_llama_server, how):
    """Ctrl-C stops the server through pada's cleanup; a SIGKILL through the parent-death signal."""
    gguf = tmp_path / "teacher.gguf"
    gguf.write_bytes(b"GGUF")
    run_dir = tmp_path / "run"
    args = local_args(stand_in_llama_server, gguf, run_dir, tmp_path / "calls.log")
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    servers: list[int] = []
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not servers:
        if (run_dir / "round_0" / "analyze_errors").exists():
            servers = server_children(proc.pid)
        time.sleep(0.02)
    assert servers, "the run ended before its server was seen"
    proc.send_signal(how)
    proc.wait(timeout=60)
    deadline = time.time() + 15
    while time.time() < deadline and any(alive(pid) for pid in servers):
        time.sleep(0.1)
    assert not any(alive(pid) for pid in servers), "a teacher server outlived its run"
