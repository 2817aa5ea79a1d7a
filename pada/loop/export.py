"""What a finished run hands over: the augmented dataset with provenance, and the best model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from pada.io import read_jsonl, write_jsonl
from pada.loop.artifacts import RunFolder, base_id


def _strategies(path: Path) -> dict[str, tuple[str, str]]:
    """``{strategy id: (pattern text, strategy text)}`` from a round's ``strategies.json``."""
    from pada.agents.records import Strategy

    if not path.exists():
        return {}
    strategies = [Strategy.from_dict(d) for d in json.loads(path.read_text())]
    return {s.id: (s.pattern, s.text()) for s in strategies}


def export_run(cfg: DictConfig, out: Path, best_round: int | None) -> dict[str, str]:
    """Write ``export/augmented.jsonl``, ``export/adapter/`` and (if configured) ``export/merged/``.

    Every exported item carries its provenance in ``meta``: the path that produced it (``pattern`` or
    ``train_error``), its origin (strategy or training item), the pattern's name and strategy, the
    judge's verdict and the round.

    Args:
        cfg: The run's config.
        out: The run folder.
        best_round: The round whose model is exported (the best on validation).

    Returns:
        Paths of what was written, by name.
    """
    export = out / "export"
    export.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    folder = RunFolder(out)
    for round_ in folder.rounds():
        samples = folder.round_dir(round_) / "generate" / "samples.jsonl"
        if not samples.exists():
            continue
        strategies = _strategies(folder.round_dir(round_) / "draft_strategies" / "strategies.json")
        for s in read_jsonl(samples):
            if not s["accepted"]:
                continue
            item = dict(s["item"])
            origin = base_id(s["origin"])
            item["meta"] = {
                **item.get("meta", {}),
                "round": round_,
                "path": s["path"],
                "origin": origin,
                "pattern": strategies.get(origin, (None, None))[0],
                "strategy": strategies.get(origin, (None, None))[1],
                "verdict": s["verdict"],
            }
            rows.append(item)
    dataset = export / "augmented.jsonl"
    write_jsonl(dataset, rows)
    paths = {"dataset": str(dataset)}
    if best_round is not None:
        adapter = folder.round_dir(best_round) / "fine_tune" / "adapter"
        target = export / "adapter"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(adapter, target)
        paths["adapter"] = str(target)
        if cfg.export_merged:
            from pada.training.export import merge_adapter

            paths["merged"] = str(merge_adapter(cfg.model, adapter, export / "merged"))
    return paths
