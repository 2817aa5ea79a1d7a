"""What a run ran on: library versions, the CPU or GPU, and the llama.cpp build's CPU features.

A run reproduces byte for byte on one machine, but the embedded teacher samples at a temperature and
llama.cpp's arithmetic depends on the instruction set it was built for (the Makefile builds an AVX2
or an AVX-512 wheel, by CPU), so the same seed can take another path on another machine. Recording
the runtime in ``metrics.json`` lets a reader tell a difference in code from a difference in machine.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

LIBRARIES = ("torch", "transformers", "peft", "lightning", "dspy", "llama_cpp_python", "wandb")


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


def llama_cpu_features() -> list[str] | None:
    """The CPU features the installed llama.cpp was compiled with (``AVX2``, ``AVX512``, ...).

    ``None`` when llama-cpp-python is not installed (a run whose teacher is a remote API).
    """
    try:
        import llama_cpp
    except ImportError:
        return None
    info = llama_cpp.llama_print_system_info()
    text = info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info)
    features = []
    for part in text.split("|"):
        name, _, value = part.rpartition("=")
        name = name.split(":")[-1].strip()  # the first field reads "CPU : SSE3 = 1"
        if name and value.strip() == "1":
            features.append(name)
    return features


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
        "llama_cpp_cpu_features": llama_cpu_features(),
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
