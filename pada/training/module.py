"""The LightningModule that fine-tunes a peft LoRA adapter on a causal LM."""

from __future__ import annotations

import logging
import math
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch.optim.lr_scheduler import LambdaLR

from pada.training.prompt import IGNORE_INDEX

SCHEDULERS = ("cosine", "linear", "constant")


log = logging.getLogger(__name__)


def answer_loss(model: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
    """Mean cross-entropy over the answer tokens of a left-padded batch (from :class:`PadCollator`).

    Only the last ``answer_width + 1`` positions get logits: with left padding every answer ends at the
    right edge, and the prompt's positions carry no loss. The result equals the model's own
    ``labels=`` loss, without projecting every prompt token onto the vocabulary.

    Args:
        model: A causal LM (``PeftModel`` or ``transformers`` model).
        batch: ``input_ids``, ``attention_mask``, ``position_ids``, ``labels``, ``answer_width``.

    Returns:
        The scalar loss.
    """
    keep = int(batch["answer_width"]) + 1
    logits = model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        position_ids=batch["position_ids"],
        logits_to_keep=keep,
    ).logits
    # logits[:, t] predicts token t + 1: the last `keep` positions predict the last `keep - 1` tokens.
    targets = batch["labels"][:, -(keep - 1) :]
    return F.cross_entropy(
        logits[:, :-1, :].float().reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=IGNORE_INDEX,
    )


def warmup_schedule(total_steps: int, warmup_steps: int, kind: str = "cosine") -> Any:
    """Make a learning-rate multiplier: linear warm-up, then cosine / linear decay to 0, or constant.

    Args:
        total_steps: Optimizer steps in the run.
        warmup_steps: Steps of linear warm-up.
        kind: ``cosine``, ``linear`` or ``constant``.

    Returns:
        A function of the step for :class:`~torch.optim.lr_scheduler.LambdaLR`.
    """
    if kind not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {kind!r}; use one of {SCHEDULERS}")
    total_steps = max(1, total_steps)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        if kind == "constant":
            return 1.0
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        if kind == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


#: Non-finite-gradient steps tolerated before training is stopped (see ``on_before_optimizer_step``).
MAX_SKIPPED_STEPS = 3


class TrainingDiverged(RuntimeError):
    """Fine-tuning kept producing non-finite gradients."""


class LoraFineTuner(L.LightningModule):
    """Trains the adapter of a peft-wrapped causal LM with AdamW and a warm-up schedule.

    Args:
        model: A ``PeftModel`` whose only trainable parameters are the adapter's.
        lr: Peak learning rate.
        weight_decay: AdamW weight decay.
        warmup_ratio: Share of the optimizer steps spent warming up.
        scheduler: ``cosine``, ``linear`` or ``constant`` after warm-up.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        lr: float = 2e-4,
        weight_decay: float = 0.0,
        warmup_ratio: float = 0.1,
        scheduler: str = "cosine",
    ) -> None:
        super().__init__()
        self.model = model
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.scheduler_kind = scheduler
        # Loss curve and token count, kept on the module so fine_tune can write them without a logger.
        self.loss_curve: list[float] = []
        self.tokens_seen = 0
        self.tokens_total = 0
        self.skipped_steps = 0
        self._accum_losses: list[float] = []

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        """Return the answer loss of a batch."""
        return answer_loss(self.model, batch)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        """Cross-entropy on the answer tokens (the collator set every prompt label to -100)."""
        loss = answer_loss(self.model, batch)
        self.tokens_seen += int(batch["attention_mask"].sum())
        self._accum_losses.append(float(loss.detach()))
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0])
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Record one point of the loss curve per optimizer step (mean over its micro-batches)."""
        accum = self.trainer.accumulate_grad_batches
        if len(self._accum_losses) >= accum:
            self.loss_curve.append(sum(self._accum_losses) / len(self._accum_losses))
            self._accum_losses.clear()

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Skip an optimizer step whose gradients are not finite, and stop if that keeps happening.

        One bad batch (an overflow, a kernel's NaN) would otherwise write NaN into every adapter
        weight for the rest of the run. AdamW leaves parameters without a gradient alone, so dropping
        the gradients skips the step. Under DDP the gradients are already all-reduced, so every process
        decides the same.

        Raises:
            TrainingDiverged: When more than a tenth of the steps so far (and at least
                :data:`MAX_SKIPPED_STEPS`) had non-finite gradients.
        """
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        if not grads or bool(torch.stack([g.detach().float().norm() for g in grads]).isfinite().all()):
            return
        for p in self.model.parameters():
            p.grad = None
        self.skipped_steps += 1
        step = self.trainer.global_step + 1
        log.warning("optimizer step %d skipped: non-finite gradients (%d so far)", step, self.skipped_steps)
        if self.skipped_steps >= MAX_SKIPPED_STEPS and self.skipped_steps > 0.1 * step:
            raise TrainingDiverged(
                f"{self.skipped_steps} of {step} optimizer steps had non-finite gradients; lower "
                "trainer.lr, use trainer.precision=32-true, or try model.attn_implementation=eager"
            )

    def on_train_end(self) -> None:
        """Sum the tokens seen over all processes (while the process group still exists)."""
        seen = torch.tensor(float(self.tokens_seen), device=self.device)
        self.tokens_total = int(self.trainer.strategy.reduce(seen, reduce_op="sum").item())

    def configure_optimizers(self) -> dict[str, Any]:
        """AdamW over the adapter's parameters, stepped per optimizer step by the warm-up schedule."""
        params = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        total = int(self.trainer.estimated_stepping_batches)
        warmup = int(round(self.warmup_ratio * total))
        schedule = LambdaLR(optimizer, warmup_schedule(total, warmup, self.scheduler_kind))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
