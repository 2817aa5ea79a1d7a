"""The one-GPU path (``trainer=gpu``): bf16 autocast fine-tuning, adapter reload and scoring on CUDA.

Skipped where no CUDA device is present (CI); run on a GPU machine with
``pytest tests/training/test_gpu.py -m gpu``.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from pada.training.evaluate import evaluate_items, load_for_eval, score_options
from pada.training.fine_tune import TRAIN_METRICS, fine_tune, save_adapter, train_adapter
from pada.training.prompt import encode_prompt

from .conftest import make_items
from .test_evaluate import slow_option_scores, varied_items

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.fixture(scope="module")
def gpu_trainer_cfg(tiny_trainer_cfg):
    """The tiny test budget with conf/trainer/gpu.yaml's device settings."""
    return replace(tiny_trainer_cfg, accelerator="gpu", devices=1, precision="bf16-mixed")


def test_gpu_fine_tune_learns_and_writes_a_cpu_loadable_adapter(tmp_path, tiny_model_cfg, gpu_trainer_cfg):
    out = fine_tune(tiny_model_cfg, gpu_trainer_cfg, make_items(), tmp_path / "adapter", seed=0)
    metrics = json.loads((out / TRAIN_METRICS).read_text())
    assert metrics["loss_curve"][-1] < metrics["loss_curve"][0]
    # The adapter trained on the GPU loads and evaluates on the CPU too.
    model, tok = load_for_eval(tiny_model_cfg, out, device="cpu")
    assert len(evaluate_items(model, tok, make_items(4), "validation")) == 4


def test_gpu_reloaded_adapter_gives_identical_logits(tmp_path, tiny_model_cfg, gpu_trainer_cfg):
    result = train_adapter(tiny_model_cfg, gpu_trainer_cfg, make_items(), tmp_path, seed=0)
    save_adapter(result.model, tmp_path / "adapter")
    reloaded, tok = load_for_eval(tiny_model_cfg, tmp_path / "adapter", device="cuda")
    trained = result.model.to("cuda").eval()
    ids = torch.tensor([encode_prompt(make_items(1)[0], tok)], device="cuda")
    with torch.no_grad():
        assert torch.allclose(trained(input_ids=ids).logits, reloaded(input_ids=ids).logits, atol=1e-5)


@pytest.mark.parametrize("style", ["letter", "cloze"])
def test_gpu_batched_scoring_matches_slow_reference(style, tmp_path, tiny_model_cfg, gpu_trainer_cfg):
    adapter = fine_tune(tiny_model_cfg, gpu_trainer_cfg, make_items(), tmp_path / "adapter", seed=0)
    model, tok = load_for_eval(tiny_model_cfg, adapter, device="cuda")
    assert next(model.parameters()).device.type == "cuda"
    items = varied_items()
    fast = score_options(model, tok, items, style=style, batch_size=4)
    for item, scores in zip(items, fast, strict=True):
        ref = slow_option_scores(model, tok, item, style)
        # bf16 weights: batched (padded) and unbatched passes agree to bf16 precision.
        assert scores == pytest.approx(ref, abs=3e-2)
