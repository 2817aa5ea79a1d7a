"""Entry point for the DDP test: fine-tune the tiny model with 2 CPU processes over gloo.

Run as a script (``python tests/training/ddp_main.py OUT``): Lightning's DDP launcher re-runs this
command for rank 1, so it must not run inside pytest's process.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "training"))

from conftest import make_items  # noqa: E402

from pada.config.schema import ModelConfig, TrainerConfig, typed  # noqa: E402
from pada.training.fine_tune import TRAIN_METRICS, fine_tune  # noqa: E402


def main() -> None:
    out = Path(sys.argv[1])
    model_file = OmegaConf.load(ROOT / "conf" / "model" / "tiny_random.yaml")
    trainer_file = OmegaConf.load(ROOT / "conf" / "trainer" / "ddp_cpu.yaml")
    for cfg in (model_file, trainer_file):
        cfg.pop("defaults", None)
    model_cfg = typed(ModelConfig, model_file)
    trainer_cfg = typed(TrainerConfig, trainer_file)
    trainer_cfg.batch_size = 4
    trainer_cfg.max_epochs = 2
    trainer_cfg.lr = 1e-2
    adapter = fine_tune(model_cfg, trainer_cfg, make_items(16), out, seed=0)
    metrics_file = adapter / TRAIN_METRICS
    if metrics_file.exists():  # rank 0 only
        print("DDP_RESULT " + json.dumps(json.loads(metrics_file.read_text())))


if __name__ == "__main__":
    main()
