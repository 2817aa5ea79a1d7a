import json
import os
import subprocess
import sys
from pathlib import Path

from pada.training.evaluate import evaluate_items, load_for_eval

from .conftest import make_items

SCRIPT = Path(__file__).with_name("ddp_main.py")


def test_ddp_on_cpu_with_two_processes(tmp_path, tiny_model_cfg):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("MASTER_PORT", None)
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "adapter")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("DDP_RESULT ")]
    assert len(lines) == 1, proc.stdout[-3000:]  # only rank 0 reports
    metrics = json.loads(lines[0].removeprefix("DDP_RESULT "))
    assert metrics["world_size"] == 2
    # 16 items over 2 processes with batch 4: 2 steps per epoch, 2 epochs; both ranks' tokens counted.
    assert metrics["steps"] == 4
    assert metrics["tokens"] > 0
    assert all(loss == loss for loss in metrics["loss_curve"])  # no NaN
    assert not (tmp_path / "lightning_logs").exists()
    model, tok = load_for_eval(tiny_model_cfg, tmp_path / "adapter", device="cpu")
    assert len(evaluate_items(model, tok, make_items(4), "train")) == 4
