"""The runtime record in metrics.json: versions, CPU/GPU and the llama.cpp build's CPU features."""

from __future__ import annotations

import json

import pytest

from pada.provenance import describe, llama_build, llama_cpu_features, runtime_record


def test_runtime_record_is_json_and_names_the_machine():
    record = runtime_record()
    assert json.loads(json.dumps(record)) == record
    assert record["cpu"] and record["cpu_count"] >= 1 and record["python"].count(".") == 2
    assert record["versions"]["torch"].startswith("2.")  # torch is pinned; the others may be absent


def test_llama_features_come_from_the_build_record(tmp_path, monkeypatch):
    binary = tmp_path / "llama-server"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    (tmp_path / "llama-server.build").write_text(
        "version=0.3.36\ntier=avx2\ncmake=-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON\n"
    )
    monkeypatch.setenv("PADA_LLAMA_SERVER", str(binary))
    build = llama_build()
    assert build == {"path": str(binary), "version": "0.3.36", "tier": "avx2",
                     "cmake": "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON"}  # fmt: skip
    assert llama_cpu_features(build) == ["AVX", "AVX2", "FMA"]  # NATIVE=OFF is no feature
    assert runtime_record()["llama_cpp_cpu_features"] == ["AVX", "AVX2", "FMA"]


def test_the_installed_build_has_at_least_avx2():
    build = llama_build()
    if build is None or "cmake" not in build:
        pytest.skip("no llama-server installed with its build record (make setup installs both)")
    # Every build this project makes (Makefile: AVX2 or AVX-512 tier) has at least AVX2.
    assert "AVX2" in llama_cpu_features(build)


def test_llama_features_are_none_without_a_server(monkeypatch, tmp_path):
    monkeypatch.delenv("PADA_LLAMA_SERVER", raising=False)
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert llama_build() is None and llama_cpu_features() is None


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
