"""One pada job: validate the config, prepare the data, and run the method.

This is the body behind ``python -m pada``. It knows the order of the work, not its details.
"""

from __future__ import annotations

import json
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from pada.config import validate
from pada.data import prepare_splits


def run_dir() -> Path:
    """The Hydra run folder of the current job."""
    return Path(HydraConfig.get().runtime.output_dir)


def run(cfg: DictConfig) -> float | None:
    """Run the job described by ``cfg``; return its validation accuracy when there is one."""
    validate(cfg)
    out = run_dir()
    splits = prepare_splits(cfg.dataset, out)
    plan = {
        "experiment": cfg.experiment_name,
        "method": cfg.method.name,
        "student": f"{cfg.model.name} ({cfg.model.source}: {cfg.model.path})",
        "teacher": f"{cfg.teacher.provider}: {cfg.teacher.model}",
        "judge": f"{cfg.judge.provider}: {cfg.judge.model}",
        "embedder": cfg.embedder.name,
        "splits": {name: len(items) for name, items in splits.items()},
        "rounds": cfg.method.rounds,
        "synthetic budget per round": cfg.generation.budget,
        "run folder": str(out),
    }
    print(json.dumps(plan, indent=2))
    (out / "plan.json").write_text(json.dumps(plan, indent=2) + "\n")
    OmegaConf.save(cfg, out / "config.yaml", resolve=True)
    print(
        "pada: data prepared and plan written. Fine-tuning and the augmentation loop are not part of "
        "this build yet; nothing was trained."
    )
    return None
