"""What a run ran on: library versions, the CPU or GPU, and the llama.cpp build's CPU features.

A run reproduces byte for byte on one machine, but the embedded teacher samples at a temperature and
llama.cpp's arithmetic depends on the instruction set it was built for (the Makefile builds an AVX2
or an AVX-512 ``llama-server``, by CPU), so the same seed can take another path on another machine. Recording
the runtime in ``metrics.json`` lets a reader tell a difference in code from a difference in machine.
"""

from __future__ import annotations

import os
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any

LIBRARIES = ("torch", "transformers", "peft", "lightning", "dspy", "litellm", "wandb")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    """The CPU's model name (from ``/proc/cpuinfo`` on Linux; ``platform.processor()`` elsewhere)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def llama_build() -> dict[str, Any] | None:
    """The ``llama-server`` the embedded teacher would run: its path, version and build flags.

    ``make setup`` writes ``llama-server.build`` beside the binary (the llama.cpp release, the CPU
    tier and the CMake flags). ``None`` when no binary is installed (a run whose teacher is remote).
    """
    from pada.teacher.server import LlamaServerError, find_binary

    try:
        binary = find_binary()
    except LlamaServerError:
        return None
    info: dict[str, Any] = {"path": str(binary)}
    build = binary.with_name(binary.name + ".build")
    if build.is_file():
        for line in build.read_text(errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip():
                info[key.strip()] = value.strip()
    return info


def llama_cpu_features(build: dict[str, Any] | None = None) -> list[str] | None:
    """The CPU features the installed llama.cpp was compiled with (``AVX2``, ``AVX512``, ...).

    Read from the ``-DGGML_<FEATURE>=ON`` flags of its build record; ``None`` without a binary or record.
    """
    build = llama_build() if build is None else build
    if not build or "cmake" not in build:
        return None
    return [m.group(1) for m in re.finditer(r"-DGGML_(\w+)=ON", build["cmake"]) if m.group(1) != "NATIVE"]


def _accelerator() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return None


def runtime_record() -> dict[str, Any]:
    """The runtime of this process, as a JSON-ready record for ``metrics.json``."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpu": _accelerator(),
        "llama_server": (build := llama_build()),
        "llama_cpp_cpu_features": llama_cpu_features(build or {}),
        "versions": {name: _version(name) for name in LIBRARIES},
    }


def describe(record: dict[str, Any]) -> str:
    """One line for people: the CPU, the llama.cpp build's widest vector tier, torch, and the GPU."""
    features = record.get("llama_cpp_cpu_features")
    tier = next((f for f in ("AVX512", "AVX2", "AVX", "NEON") if features and f in features), None)
    llama = "no llama.cpp" if features is None else f"llama.cpp {tier or 'generic'} build"
    torch = (record.get("versions") or {}).get("torch") or "no torch"
    gpu = record.get("gpu") or "no GPU"
    return f"{record.get('cpu')} ({record.get('cpu_count')} cores), {gpu}; {llama}; torch {torch}"
