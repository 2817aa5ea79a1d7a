"""One fine-tuning round: base model + LoRA adapter, trained by Lightning, adapter saved on its own."""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate

from pada.config.schema import ModelConfig, TrainerConfig, lightning_key_problem, plain
from pada.tasks.schema import Item
from pada.training.data import SFTDataModule
from pada.training.models import configure_threads, load_base, mc_style
from pada.training.module import LoraFineTuner

log = logging.getLogger(__name__)

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
TRAIN_METRICS = "train_metrics.json"


@dataclass
class TrainResult:
    """What :func:`train_adapter` hands back.

    Attributes:
        model: The trained ``PeftModel`` (eval mode, on the training device of rank 0).
        tokenizer: The student's tokenizer.
        metrics: Loss curve, steps, tokens, wall time and the settings that produced them.
        is_global_zero: Whether this process is rank 0 (the one that writes files under DDP).
    """

    model: Any
    tokenizer: Any
    metrics: dict[str, Any] = field(default_factory=dict)
    is_global_zero: bool = True


def lora_config(model_cfg: ModelConfig, num_layers: int | None = None) -> Any:
    """Build a peft ``LoraConfig`` from the model config's ``lora`` node.

    Args:
        model_cfg: The ``ModelConfig``; its ``lora`` node gives rank, alpha, dropout, target modules and,
            optionally, ``top_layers``: adapt only the last N transformer layers.
        num_layers: The model's number of layers (needed for ``top_layers``).

    Why ``top_layers``: the base model is frozen, so backpropagation stops at the lowest adapted layer.
    Adapting the top third of SmolLM2's layers makes a CPU training step about twice as fast.
    """
    from peft import LoraConfig, TaskType

    lora = model_cfg.lora
    top = lora.top_layers
    layers = None
    if top is not None and num_layers is not None and 0 < int(top) < num_layers:
        layers = list(range(num_layers - int(top), num_layers))
    return LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=int(lora.r),
        lora_alpha=int(lora.alpha),
        lora_dropout=float(lora.dropout),
        target_modules=list(lora.target_modules),
        layers_to_transform=layers,
    )


def wrap_with_adapter(
    base: Any, model_cfg: ModelConfig, seed: int, init_adapter: str | Path | None = None
) -> Any:
    """Put a trainable LoRA adapter on ``base``: a fresh one, or a copy of ``init_adapter``'s weights.

    The seed is set right before the adapter is created, so the adapter's random init (and thus the
    run) is reproducible.
    """
    from peft import PeftModel, get_peft_model

    L.seed_everything(seed, workers=True, verbose=False)
    if init_adapter is not None:
        model = PeftModel.from_pretrained(base, str(init_adapter), is_trainable=True)
    else:
        model = get_peft_model(base, lora_config(model_cfg, getattr(base.config, "num_hidden_layers", None)))
    # from_pretrained returns eval mode and Lightning keeps submodule modes: LoRA dropout would stay off.
    model.train()
    return model


class _DropAdverts(logging.Filter):
    """Drops Lightning's tip that advertises a hosted logging service."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def quiet_lightning() -> None:
    """Keep Lightning's and transformers' messages to one copy each, without adverts or stale warnings.

    Lightning attaches its own console handler when it is imported before logging is configured;
    once the application (Hydra, for ``python -m pada``) has configured the root logger, every
    Lightning line would be printed twice. Idempotent.
    """
    root_configured = bool(logging.getLogger().handlers)
    for name in ("lightning.pytorch", "lightning.fabric"):
        lightning_log = logging.getLogger(name)
        if root_configured:
            for handler in list(lightning_log.handlers):
                lightning_log.removeHandler(handler)
            lightning_log.propagate = True
        if not any(isinstance(f, _DropAdverts) for f in lightning_log.filters):
            lightning_log.addFilter(_DropAdverts())
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _DropAdverts) for f in rank_zero.filters):
        rank_zero.addFilter(_DropAdverts())
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*is deprecated")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")


def trainer_node(trainer_cfg: TrainerConfig, out_dir: Path) -> dict[str, Any]:
    """The ``Trainer``'s node for ``hydra.utils.instantiate``: ``trainer.lightning`` plus the fields.

    pada's own defaults (no checkpoints, no sanity run, files under ``out_dir``, a fresh DataLoader
    per epoch for the per-epoch option shuffle) come first, then ``trainer.lightning``, then the
    arguments that ``trainer`` fields set; setting one of those in ``trainer.lightning`` is an error
    naming the field to use instead.
    """
    extra = plain(trainer_cfg.lightning)
    problem = lightning_key_problem(extra)
    if problem:
        raise ValueError(problem)
    strategy = trainer_cfg.strategy
    if isinstance(strategy, Mapping):  # a node of its own: built by the same instantiate call
        strategy = plain(strategy)
    return {
        "enable_checkpointing": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        "log_every_n_steps": 1,
        # A new DataLoader per epoch: the data module shuffles option orders per epoch.
        "reload_dataloaders_every_n_epochs": 1,
        "default_root_dir": str(out_dir),
        **extra,
        "accelerator": trainer_cfg.accelerator,
        "devices": trainer_cfg.devices,
        "strategy": strategy,
        "precision": trainer_cfg.precision,
        "max_epochs": int(trainer_cfg.max_epochs),
        "max_steps": int(trainer_cfg.max_steps),
        "accumulate_grad_batches": int(trainer_cfg.grad_accum),
        "gradient_clip_val": float(trainer_cfg.grad_clip) or None,
        "enable_progress_bar": bool(trainer_cfg.progress_bar),
    }


def build_trainer(
    trainer_cfg: TrainerConfig, out_dir: Path, logger: Any = None, callbacks: list | None = None
) -> L.Trainer:
    """Build the Lightning ``Trainer`` from ``trainer.lightning`` and the ``trainer`` fields.

    ``hydra.utils.instantiate`` builds it, and a ``strategy`` given as a ``_target_`` node with it;
    the logger and callbacks are objects pada passes in.
    """
    quiet_lightning()
    node = trainer_node(trainer_cfg, out_dir)
    return instantiate(node, logger=logger if logger is not None else False, callbacks=callbacks or [])


def train_adapter(
    model_cfg: ModelConfig,
    trainer_cfg: TrainerConfig,
    train_items: Sequence[Item],
    out_dir: str | Path,
    seed: int = 0,
    init_adapter: str | Path | None = None,
    logger: Any = None,
    callbacks: list | None = None,
) -> TrainResult:
    """Train a LoRA adapter and keep it in memory (:func:`fine_tune` also saves it).

    Args:
        model_cfg: The student's ``ModelConfig``.
        trainer_cfg: The ``TrainerConfig``.
        train_items: The round's training items.
        out_dir: Lightning's root dir (nothing is written there unless a logger writes).
        seed: Seeds the adapter init, dropout and data order.
        init_adapter: Start from this adapter's weights instead of a fresh adapter. Used as given:
            the restart-or-continue switch is applied by :func:`fine_tune`.
        logger: An optional Lightning logger (e.g. ``WandbLogger``).
        callbacks: Extra Lightning callbacks.

    Returns:
        The trained model, tokenizer and training metrics.
    """
    out_dir = Path(out_dir)
    accelerator = trainer_cfg.accelerator
    devices = trainer_cfg.devices
    if accelerator == "cpu":
        configure_threads(trainer_cfg.num_threads, processes=int(devices))
    quiet_lightning()
    base, tokenizer = load_base(model_cfg, accelerator=accelerator)
    model = wrap_with_adapter(base, model_cfg, seed, init_adapter)
    module = LoraFineTuner(
        model,
        lr=float(trainer_cfg.lr),
        weight_decay=float(trainer_cfg.weight_decay),
        warmup_ratio=float(trainer_cfg.warmup_ratio),
        scheduler=str(trainer_cfg.scheduler),
    )
    data = SFTDataModule(
        train_items,
        tokenizer,
        max_length=int(model_cfg.max_length),
        batch_size=int(trainer_cfg.batch_size),
        seed=seed,
        num_workers=int(trainer_cfg.num_workers),
        group_by_length=bool(trainer_cfg.group_by_length),
        shuffle_options=bool(trainer_cfg.shuffle_options),
        style=mc_style(model_cfg),
    )
    trainer = build_trainer(trainer_cfg, out_dir, logger=logger, callbacks=callbacks)
    start = time.perf_counter()
    with warnings.catch_warnings():
        # Batches are tokenized up front; extra DataLoader workers would only cost start-up time.
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        trainer.fit(module, datamodule=data)
    wall = time.perf_counter() - start
    model.eval()
    model.pada_mc_style = mc_style(model_cfg)
    metrics = {
        "model": model_cfg.name,
        "seed": seed,
        "mc_style": mc_style(model_cfg),
        "train_items": len(train_items),
        "init_adapter": str(init_adapter) if init_adapter is not None else None,
        "world_size": trainer.world_size,
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
        "tokens": module.tokens_total,
        "wall_time_s": round(wall, 3),
        "tokens_per_s": round(module.tokens_total / wall, 1) if wall > 0 else None,
        "final_loss": module.loss_curve[-1] if module.loss_curve else None,
        "skipped_steps": module.skipped_steps,
        "loss_curve": [round(x, 5) for x in module.loss_curve],
        "lr": module.lr,
        "lora": _adapter_summary(model),
    }
    return TrainResult(
        model=model, tokenizer=tokenizer, metrics=metrics, is_global_zero=trainer.is_global_zero
    )


def _adapter_summary(model: Any) -> dict[str, Any]:
    """Summarize the adapter that was trained (from peft's own config, so a continued one is right too)."""
    pc = model.peft_config["default"]
    return {
        "r": pc.r,
        "alpha": pc.lora_alpha,
        "dropout": pc.lora_dropout,
        "target_modules": sorted(pc.target_modules),
        "layers": pc.layers_to_transform,
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }


def save_adapter(model: Any, out_dir: str | Path) -> Path:
    """Save only the adapter (``adapter_model.safetensors`` + ``adapter_config.json``) to ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    return out_dir


def fine_tune(
    model_cfg: ModelConfig,
    trainer_cfg: TrainerConfig,
    train_items: Sequence[Item],
    out_dir: str | Path,
    seed: int = 0,
    init_adapter: str | Path | None = None,
    logger: Any = None,
) -> Path:
    """Fine-tune the student on ``train_items`` and save the adapter and its training metrics.

    Args:
        model_cfg: The student's ``ModelConfig``.
        trainer_cfg: The ``TrainerConfig``. Its ``restart_from_base`` decides what ``init_adapter``
            means: true (the default) ignores it and trains a fresh adapter on the base model;
            false continues training from it.
        train_items: The round's training items.
        out_dir: The adapter folder to write (created if needed).
        seed: Seeds the adapter init, dropout and data order.
        init_adapter: The previous round's adapter folder, if any.
        logger: An optional Lightning logger.

    Returns:
        ``out_dir``, holding ``adapter_model.safetensors``, ``adapter_config.json`` and
        ``train_metrics.json``. Under DDP only rank 0 writes; every rank returns the path.
    """
    out_dir = Path(out_dir)
    restart = bool(trainer_cfg.restart_from_base)
    start_from = None if restart else init_adapter
    if init_adapter is not None and restart:
        log.info("restart_from_base: training a fresh adapter (not continuing from %s)", init_adapter)
    result = train_adapter(
        model_cfg, trainer_cfg, train_items, out_dir, seed=seed, init_adapter=start_from, logger=logger
    )
    result.metrics["restart_from_base"] = restart
    if result.is_global_zero:
        save_adapter(result.model, out_dir)
        (out_dir / TRAIN_METRICS).write_text(json.dumps(result.metrics, indent=2))
        log.info(
            "fine-tuned %s on %d items: %d steps, %.1f s, final loss %s",
            result.metrics["model"],
            len(train_items),
            result.metrics["steps"],
            result.metrics["wall_time_s"],
            result.metrics["final_loss"],
        )
    return out_dir
