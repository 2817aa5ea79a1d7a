"""What a finished run hands over: the augmented dataset with provenance, and the best model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from pada.io import read_jsonl, write_jsonl


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
    for samples in sorted(
        out.glob("round_*/generate/samples.jsonl"), key=lambda p: int(p.parts[-3].split("_")[1])
    ):
        round_ = int(samples.parts[-3].split("_")[1])
        strategies = _strategies(samples.parents[1] / "draft_strategies" / "strategies.json")
        for s in read_jsonl(samples):
            if not s["accepted"]:
                continue
            item = dict(s["item"])
            origin = s["origin"].split("/attempt")[0]
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
        adapter = out / f"round_{best_round}" / "fine_tune" / "adapter"
        target = export / "adapter"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(adapter, target)
        paths["adapter"] = str(target)
        if cfg.export_merged:
            from pada.training.export import merge_adapter

            paths["merged"] = str(merge_adapter(cfg.model, adapter, export / "merged"))
    return paths
