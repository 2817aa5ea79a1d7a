"""The run folder: per-stage manifests, the run's state, and finding a run to resume.

Every stage of a round writes its outputs into ``round_<t>/<stage>/`` and then, last, a
``manifest.json`` naming what it consumed and a hash of the settings that matter to it. A stage whose
manifest exists with the same settings hash is finished and is not run again; a stage without one
(killed half way) is run again, and the teacher's disk cache in the run folder serves the calls it
had already paid for.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pada.io import read_json, write_json

MANIFEST = "manifest.json"
STATE = "run_state.json"
#: Left in a run folder whose unfinished work was moved into a new one on resume.
RESUMED_MARKER = "RESUMED_IN.txt"
#: Joins a strategy's id and the generation attempt that asked it again (fresh ids, fresh rollouts).
ATTEMPT_TAG = "/attempt"


def attempt_id(base: str, attempt: int) -> str:
    """The id a generation request carries in attempt ``attempt`` (the first attempt keeps ``base``)."""
    return f"{base}{ATTEMPT_TAG}{attempt}" if attempt else base


def base_id(tagged: str) -> str:
    """The id without its attempt tag (inverse of :func:`attempt_id`)."""
    return tagged.split(ATTEMPT_TAG)[0]


def stable_hash(obj: Any) -> str:
    """A short sha256 of ``obj``'s canonical JSON (sorted keys)."""
    blob = json.dumps(obj, sort_keys=True, default=str, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class RunFolder:
    """The artifacts of one run, stage by stage.

    Args:
        root: The run folder.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def round_dir(self, round_: int) -> Path:
        """The folder of round ``round_`` (not created)."""
        return self.root / f"round_{round_}"

    def rounds(self) -> list[int]:
        """The rounds that have a folder, in order."""
        found = (p.name.removeprefix("round_") for p in self.root.glob("round_*") if p.is_dir())
        return sorted(int(n) for n in found if n.isdigit())

    def stage_dir(self, round_: int, stage: str) -> Path:
        """The folder of ``stage`` in round ``round_`` (created on demand)."""
        path = self.round_dir(round_) / stage
        path.mkdir(parents=True, exist_ok=True)
        return path

    def is_done(self, round_: int, stage: str, settings: dict[str, Any]) -> bool:
        """Whether ``stage`` finished in an earlier attempt with the same settings."""
        manifest = self.round_dir(round_) / stage / MANIFEST
        if not manifest.exists():
            return False
        return read_json(manifest).get("settings_hash") == stable_hash(settings)

    def mark_done(
        self,
        round_: int,
        stage: str,
        settings: dict[str, Any],
        consumed: dict[str, Any],
        seconds: float,
        teacher: dict[str, Any] | None = None,
    ) -> None:
        """Write the stage's manifest: the last file a stage writes.

        ``teacher`` is the teacher usage the stage cost (calls, tokens, seconds), kept with the stage
        so that a resumed run still reports what its finished stages cost in the attempt that ran them.
        """
        write_json(
            self.stage_dir(round_, stage) / MANIFEST,
            {
                "stage": stage,
                "round": round_,
                "settings": settings,
                "settings_hash": stable_hash(settings),
                "consumed": consumed,
                "seconds": round(seconds, 3),
                "teacher": teacher or {},
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            },
        )

    def stage(
        self,
        round_: int,
        name: str,
        settings: dict[str, Any],
        usage: Callable[[], dict[str, Any]] | None = None,
    ) -> Stage:
        """Declare a stage of a round (see :class:`Stage`)."""
        return Stage(self, round_, name, settings, usage)

    def manifests(self, round_: int) -> list[dict[str, Any]]:
        """The manifests of a round's finished stages, in stage-folder order."""
        return [read_json(m) for m in sorted(self.round_dir(round_).glob(f"*/{MANIFEST}"))]

    def stage_seconds(self, round_: int) -> dict[str, float]:
        """Seconds spent per finished stage of a round (from the manifests)."""
        return {data["stage"]: data["seconds"] for data in self.manifests(round_)}

    def stage_teacher(self, round_: int) -> dict[str, Any]:
        """The teacher usage of a round's finished stages, summed (from the manifests)."""
        total: dict[str, Any] = {}
        for data in self.manifests(round_):
            for key, value in (data.get("teacher") or {}).items():
                if isinstance(value, (int, float)):
                    total[key] = total.get(key, 0) + value
        return total

    def state(self) -> dict[str, Any]:
        """The run's state file (``{}`` for a new run)."""
        path = self.root / STATE
        return read_json(path) if path.exists() else {}

    def set_state(self, **fields: Any) -> None:
        """Update fields of the run's state file."""
        write_json(self.root / STATE, {**self.state(), **fields})


class Stage:
    """One stage of one round, declared once: its folder, whether it is done, and its finish.

    Made by :meth:`RunFolder.stage` before the stage's work; its clock starts then. ``done`` says
    whether a manifest with the same settings exists (then the stage's outputs are read back instead
    of made). :meth:`finish` writes the manifest with the seconds since and the teacher usage the
    stage cost.

    Args:
        folder: The run folder.
        round_: The round.
        name: The stage (its folder's name).
        settings: Everything that decides the stage's outputs; hashed into its manifest.
        usage: Returns the teacher usage since the previous stage finished (``{}`` if none).
    """

    def __init__(
        self,
        folder: RunFolder,
        round_: int,
        name: str,
        settings: dict[str, Any],
        usage: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.folder, self.round, self.name, self.settings = folder, round_, name, settings
        self.dir = folder.stage_dir(round_, name)
        self.done = folder.is_done(round_, name, settings)
        self._usage = usage or dict
        self._start = time.perf_counter()

    def finish(self, **consumed: Any) -> None:
        """Write the manifest: what the stage consumed (counts), its seconds and its teacher usage."""
        seconds = time.perf_counter() - self._start
        self.folder.mark_done(self.round, self.name, self.settings, consumed, seconds, self._usage())


def find_resumable(search_root: Path, config_hash: str, exclude: Path) -> Path | None:
    """The newest unfinished run under ``search_root`` started with the same config.

    Args:
        search_root: Where earlier runs of this experiment live (``outputs/<experiment>``).
        config_hash: The :func:`stable_hash` of the run-defining config.
        exclude: The current (new) run folder.

    Returns:
        The run folder to resume, or ``None``.
    """
    if not search_root.is_dir():
        return None
    candidates = []
    for state_file in search_root.glob(f"**/{STATE}"):
        folder = state_file.parent
        if folder.resolve() == exclude.resolve():
            continue
        try:
            state = read_json(state_file)
        except (OSError, json.JSONDecodeError):
            continue
        if state.get("config_hash") == config_hash and state.get("status") != "finished":
            candidates.append((state_file.stat().st_mtime, folder))
    return max(candidates)[1] if candidates else None
