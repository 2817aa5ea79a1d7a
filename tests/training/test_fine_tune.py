import json
from dataclasses import replace

import torch
from safetensors.torch import load_file

from pada.training.evaluate import accuracy, evaluate_items, load_for_eval
from pada.training.fine_tune import ADAPTER_CONFIG, ADAPTER_WEIGHTS, TRAIN_METRICS, fine_tune
from pada.training.models import build_tiny_tokenizer
from pada.training.prompt import encode_prompt

from .conftest import make_items


def _weights(folder):
    return load_file(str(folder / ADAPTER_WEIGHTS))


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_fine_tune_writes_adapter_and_metrics_only(trained_adapter, tiny_trainer_cfg):
    files = {p.name for p in trained_adapter.iterdir()}
    assert {ADAPTER_WEIGHTS, ADAPTER_CONFIG, TRAIN_METRICS} <= files
    assert not any(name.endswith(".ckpt") or name == "lightning_logs" for name in files)
    metrics = json.loads((trained_adapter / TRAIN_METRICS).read_text())
    assert metrics["steps"] == 2 * 16 // tiny_trainer_cfg.batch_size
    assert len(metrics["loss_curve"]) == metrics["steps"]
    assert metrics["tokens"] > 0 and metrics["wall_time_s"] > 0
    assert metrics["lora"]["r"] == 4 and metrics["lora"]["target_modules"] == [
        "k_proj",
        "o_proj",
        "q_proj",
        "v_proj",
    ]
    assert metrics["loss_curve"][-1] < metrics["loss_curve"][0]


def test_same_seed_same_adapter_other_seed_other_adapter(tmp_path, tiny_model_cfg, tiny_trainer_cfg):
    items = make_items(8)
    a = fine_tune(tiny_model_cfg, tiny_trainer_cfg, items, tmp_path / "a", seed=3)
    b = fine_tune(tiny_model_cfg, tiny_trainer_cfg, items, tmp_path / "b", seed=3)
    c = fine_tune(tiny_model_cfg, tiny_trainer_cfg, items, tmp_path / "c", seed=4)
    assert _same(_weights(a), _weights(b))
    assert not _same(_weights(a), _weights(c))


def test_reloaded_adapter_gives_identical_logits(trained_adapter, tiny_model_cfg, tiny_trainer_cfg, tmp_path):
    from pada.training.fine_tune import save_adapter, train_adapter

    result = train_adapter(tiny_model_cfg, tiny_trainer_cfg, make_items(), tmp_path, seed=0)
    save_adapter(result.model, tmp_path / "adapter")
    reloaded, tok = load_for_eval(tiny_model_cfg, tmp_path / "adapter", device="cpu")
    ids = torch.tensor([encode_prompt(make_items(1)[0], tok)])
    with torch.no_grad():
        assert torch.equal(result.model(input_ids=ids).logits, reloaded(input_ids=ids).logits)


def test_adapter_evaluation_differs_from_base(trained_adapter, tiny_model_cfg):
    items = make_items()
    base, tok = load_for_eval(tiny_model_cfg, None, device="cpu")
    tuned, _ = load_for_eval(tiny_model_cfg, trained_adapter, device="cpu")
    base_recs = evaluate_items(base, tok, items, "train")
    tuned_recs = evaluate_items(tuned, tok, items, "train")
    diffs = [
        max(abs(p - q) for p, q in zip(b.option_probs, t.option_probs, strict=True))
        for b, t in zip(base_recs, tuned_recs, strict=True)
    ]
    # Every item's scores moved: the adapter is really in the evaluated model.
    assert min(diffs) > 1e-3
    assert 0.0 <= accuracy(tuned_recs) <= 1.0


def test_restart_from_base_ignores_previous_adapter_continue_uses_it(
    tmp_path, trained_adapter, tiny_model_cfg
):
    from pada.config.schema import TrainerConfig

    items = make_items(4)
    # lr 0: the adapter does not move, so the saved weights show where training started.
    frozen = TrainerConfig(max_epochs=1, batch_size=4, lr=0.0, restart_from_base=True)
    fresh = fine_tune(tiny_model_cfg, frozen, items, tmp_path / "fresh", seed=0)
    restarted = fine_tune(
        tiny_model_cfg, frozen, items, tmp_path / "restart", seed=0, init_adapter=trained_adapter
    )
    continued = fine_tune(
        tiny_model_cfg,
        replace(frozen, restart_from_base=False),
        items,
        tmp_path / "cont",
        seed=0,
        init_adapter=trained_adapter,
    )
    previous = _weights(trained_adapter)
    assert _same(_weights(restarted), _weights(fresh))
    assert _same(_weights(continued), previous)
    assert not _same(_weights(fresh), previous)
    meta = json.loads((continued / TRAIN_METRICS).read_text())
    assert meta["restart_from_base"] is False and meta["init_adapter"] == str(trained_adapter)


def test_no_lightning_files_in_cwd(tmp_path, monkeypatch, tiny_model_cfg, tiny_trainer_cfg):
    monkeypatch.chdir(tmp_path)
    fine_tune(
        tiny_model_cfg, replace(tiny_trainer_cfg, max_epochs=1), make_items(4), tmp_path / "out", seed=0
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_tokenizer_is_rebuilt_identically():
    assert build_tiny_tokenizer().get_vocab() == build_tiny_tokenizer().get_vocab()


def _poison(monkeypatch, bad_calls):
    """Make the answer loss NaN on the given calls (0-based), as a bad batch or kernel would."""
    import pada.training.module as module

    real, calls = module.answer_loss, {"n": 0}

    def loss(model, batch):
        out = real(model, batch)
        calls["n"] += 1
        return out * float("nan") if calls["n"] - 1 in bad_calls else out

    monkeypatch.setattr(module, "answer_loss", loss)


def test_a_non_finite_step_is_skipped_and_counted(monkeypatch, tmp_path, tiny_model_cfg, tiny_trainer_cfg):
    _poison(monkeypatch, {1})
    out = fine_tune(tiny_model_cfg, tiny_trainer_cfg, make_items(), tmp_path / "a", seed=0)
    metrics = json.loads((out / TRAIN_METRICS).read_text())
    assert metrics["skipped_steps"] == 1
    # The adapter did not take the NaN: every weight is finite and it still learned.
    assert all(torch.isfinite(w).all() for w in _weights(out).values())
    finite = [x for x in metrics["loss_curve"] if x == x]
    assert len(finite) == metrics["steps"] - 1 and finite[-1] < finite[0]


def test_training_that_keeps_diverging_stops_with_a_clear_error(
    monkeypatch, tmp_path, tiny_model_cfg, tiny_trainer_cfg
):
    import pytest

    from pada.training.module import TrainingDiverged

    _poison(monkeypatch, set(range(100)))
    with pytest.raises(TrainingDiverged, match="non-finite gradients; lower trainer.lr"):
        fine_tune(tiny_model_cfg, tiny_trainer_cfg, make_items(), tmp_path / "a", seed=0)
    assert not (tmp_path / "a" / ADAPTER_WEIGHTS).exists()


def test_the_trainer_is_built_from_its_config_node(tmp_path):
    """``trainer.lightning`` names the class and carries extra arguments; a strategy may be a node."""
    from omegaconf import OmegaConf

    from pada.config.schema import TrainerConfig
    from pada.training.fine_tune import build_trainer

    cfg = OmegaConf.structured(TrainerConfig(max_epochs=3, grad_clip=0.0))
    cfg.lightning.deterministic = True
    cfg.strategy = {"_target_": "lightning.pytorch.strategies.SingleDeviceStrategy", "device": "cpu"}
    try:
        trainer = build_trainer(cfg, tmp_path)
        assert torch.are_deterministic_algorithms_enabled()
    finally:  # Trainer(deterministic=True) switches a process-wide torch flag on
        torch.use_deterministic_algorithms(False)
    assert type(trainer.strategy).__name__ == "SingleDeviceStrategy"
    assert trainer.max_epochs == 3 and trainer.gradient_clip_val is None
    assert trainer.checkpoint_callback is None and trainer.default_root_dir == str(tmp_path)


def test_a_trainer_argument_that_a_field_owns_is_refused_in_the_node(tmp_path):
    from omegaconf import OmegaConf

    from pada.config.schema import TrainerConfig
    from pada.training.fine_tune import build_trainer

    cfg = OmegaConf.structured(TrainerConfig())
    cfg.lightning.accumulate_grad_batches = 4
    try:
        build_trainer(cfg, tmp_path)
    except ValueError as e:
        assert "trainer.lightning.accumulate_grad_batches" in str(e) and "trainer.grad_accum" in str(e)
    else:
        raise AssertionError("a key owned by trainer.grad_accum was accepted in trainer.lightning")
