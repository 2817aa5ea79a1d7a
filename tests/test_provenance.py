"""The runtime record in metrics.json: versions, CPU/GPU and the llama.cpp build's CPU features."""

from __future__ import annotations

import json

import pytest

from pada.provenance import describe, llama_cpu_features, runtime_record


def test_runtime_record_is_json_and_names_the_machine():
    record = runtime_record()
    assert json.loads(json.dumps(record)) == record
    assert record["cpu"] and record["cpu_count"] >= 1 and record["python"].count(".") == 2
    assert record["versions"]["torch"].startswith("2.")  # torch is pinned; the others may be absent


def test_llama_features_come_from_the_installed_build():
    pytest.importorskip("llama_cpp")
    features = llama_cpu_features()
    assert features and all(f == f.strip() and "=" not in f and ":" not in f for f in features)
    # Every build this project makes (Makefile: AVX2 or AVX-512 tier) has at least AVX2.
    assert "AVX2" in features or "NEON" in features


def test_llama_features_are_none_without_llama_cpp(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_llama(name, *args, **kwargs):
        if name == "llama_cpp":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_llama)
    assert llama_cpu_features() is None


@pytest.mark.parametrize(
    ("features", "expected"),
    [
        (["SSE3", "AVX", "AVX2", "FMA", "AVX512", "AVX512_VNNI"], "llama.cpp AVX512 build"),
        (["SSE3", "AVX", "AVX2", "FMA"], "llama.cpp AVX2 build"),
        ([], "llama.cpp generic build"),
        (None, "no llama.cpp"),
    ],
)
def test_describe_names_the_widest_tier(features, expected):
    record = {"cpu": "Some CPU", "cpu_count": 2, "gpu": None, "llama_cpp_cpu_features": features,
              "versions": {"torch": "2.13.0+cpu"}}  # fmt: skip
    line = describe(record)
    assert line == f"Some CPU (2 cores), no GPU; {expected}; torch 2.13.0+cpu"
