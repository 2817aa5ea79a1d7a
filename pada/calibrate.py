"""``python -m pada.calibrate``: how often the judge accepts items whose answer is known to be right or wrong.

The gate is run on N real training items twice: once with their true labels, once with a wrong
option marked as the answer (chosen at random, seeded); for a free-form task (``dataset=gsm8k``), a
wrong final answer: the number moved by a small seeded amount, or another item's answer. The
acceptance rate on the first is the gate's recall on good items; on the second, its false-acceptance
rate on mislabelled ones. Both are printed for several values of ``quality_gate.judge_threshold``,
so the default can be read off.

The blind solve does not see the label, so one scoring call per item serves both versions and every
threshold (the second version is a cache hit). With ``--checks`` the judge also writes its verdict,
which does see the label: one more call per version.

    python -m pada.calibrate                                   # 200 scireason training items
    python -m pada.calibrate --n 400 --thresholds 0.3,0.5,0.7 judge=openai
    python -m pada.calibrate --checks                          # with the written verdict

Overrides after the flags are Hydra overrides of pada's config, as for ``python -m pada``. The last
line reads, for the threshold in the config::

    calibration: n=200 threshold=0.5 accept_true=0.78 accept_corrupt=0.07 judge_calls=200
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pada import offline

offline.apply()

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def compose(overrides: list[str]) -> Any:
    """The config with ``overrides``, composed as ``python -m pada`` would (no run folder)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from pada.config import register, validate

    register()
    overrides = [o[1:] if o.startswith("+experiment=") else o for o in overrides]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = hydra_compose(config_name="config", overrides=overrides)
    validate(cfg)
    return cfg


def corrupt(item: Any, rng: random.Random, others: Sequence[Any] = ()) -> Any:
    """The item with a wrong answer: another option (multiple choice), or a wrong final answer.

    A free-form item's numeric answer is moved by 1 to 3 either way (or by its own size when it is not
    a whole number); a text answer is replaced by one of ``others``' answers that disagrees with it.
    """
    from pada.tasks.answers import answers_match, as_number
    from pada.tasks.schema import MCItem

    if isinstance(item, MCItem):
        wrong = rng.choice([i for i in range(len(item.choices)) if i != item.answer])
        return replace(item, answer=wrong)
    number = as_number(item.answer)
    if number is not None:
        step = rng.choice([-3, -2, -1, 1, 2, 3]) if number.denominator == 1 else number or 1
        moved = number + step
        return replace(item, answer=str(moved.numerator) if moved.denominator == 1 else str(float(moved)))
    pool = [o.answer for o in others if not answers_match(o.answer, item.answer)]
    if not pool:
        raise ValueError(f"{item.id}: no other answer to mark as its wrong one")
    return replace(item, answer=rng.choice(pool))


def calibrate(cfg: Any, n: int, seed: int, checks: bool, out_dir: Path) -> dict[str, Any]:
    """Judge ``n`` training items with true and with corrupted labels; return the verdicts and counts.

    Args:
        cfg: The composed config (its ``dataset``, ``teacher``, ``judge`` and ``quality_gate``).
        n: Training items to judge.
        seed: Picks the items and the wrong options.
        checks: Also ask for the written verdict (``quality_gate.judge_checks``).
        out_dir: Where the teacher cache, the server log and the results go.
    """
    from pada.agents import AgentSuite, GeneratedItem
    from pada.data import prepare_splits
    from pada.loop.quality_gate import judge_score
    from pada.tasks import build_task
    from pada.teacher.lm import distinct_judge

    kind = str(cfg.dataset.kind)
    splits = prepare_splits(cfg.dataset, out_dir)
    pool = [i for i in splits.train if i.kind == kind]
    rng = random.Random(seed)
    items = rng.sample(pool, min(n, len(pool)))
    versions = {
        "true": items,
        "corrupt": [corrupt(i, rng, pool) for i in items],
    }
    rows: dict[str, list[dict[str, Any]]] = {}
    start = time.perf_counter()
    with AgentSuite.open(
        cfg.teacher,
        distinct_judge(cfg.teacher, cfg.judge),
        run_dir=out_dir,
        task=build_task(cfg.dataset).description,
        task_kind=kind,
        seed=seed,
        judge_checks=checks,
        judge_batch=int(cfg.quality_gate.judge_batch),
    ) as agents:
        for name, version in versions.items():
            batch = [GeneratedItem(i, "", "calibration", i.id, "the task's own skills", 0) for i in version]
            verdicts = agents.judge(batch)
            rows[name] = [
                {"id": i.id, "label": getattr(i, "answer_letter", i.answer), "judge": v.judge_answer,
                 "score": judge_score(v),
                 "probabilities": v.probabilities, "checks": v.checks, "failed": v.failed}
                for i, v in zip(version, verdicts, strict=True)
            ]  # fmt: skip
        usage = agents.usage.to_dict()["total"]
    return {"n": len(items), "rows": rows, "usage": usage, "wall_s": time.perf_counter() - start}


def acceptance(rows: list[dict[str, Any]], threshold: float) -> float:
    """The share of rows the gate accepts at ``threshold`` (an endorsed label with at least that score)."""
    from pada.loop.quality_gate import passes_judge

    return sum(passes_judge(r["score"], threshold) for r in rows) / len(rows) if rows else 0.0


def main(argv: list[str] | None = None) -> int:
    """Run the calibration and print one line per threshold, then the summary line."""
    parser = argparse.ArgumentParser(prog="python -m pada.calibrate", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200, help="training items to judge (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--thresholds", default=",".join(map(str, DEFAULT_THRESHOLDS)))
    parser.add_argument("--checks", action="store_true", help="also ask for the written verdict")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "calibrate")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. judge=openai")
    args = parser.parse_args(argv)

    from pada.errors import PadaError
    from pada.teacher.providers import provider_name

    try:
        cfg = compose(args.overrides or ["experiment=scireason"])
    except PadaError as err:
        print(f"pada.calibrate: error: {err}", file=sys.stderr)
        return 2
    out = args.out / time.strftime("%Y-%m-%d_%H-%M-%S")
    out.mkdir(parents=True, exist_ok=True)
    result = calibrate(cfg, args.n, args.seed, args.checks, out)
    configured = float(cfg.quality_gate.judge_threshold)
    thresholds = sorted({float(t) for t in args.thresholds.split(",")} | {configured})
    table = [
        {"threshold": t, "accept_true": acceptance(result["rows"]["true"], t),
         "accept_corrupt": acceptance(result["rows"]["corrupt"], t)}
        for t in thresholds
    ]  # fmt: skip
    paid = result["usage"]["calls"] - result["usage"]["cache_hits"]
    solved = sum(r["judge"] == r["label"] for r in result["rows"]["true"]) / max(1, result["n"])
    checks = "on" if args.checks else "off"
    print(f"judge: {provider_name(cfg.judge)} {cfg.judge.model}; written checks: {checks}")
    print(f"items: {result['n']} training items of {cfg.dataset.name}; the judge's best option is the label "
          f"for {solved:.1%}; {paid} calls paid, {result['wall_s']:.0f} s")  # fmt: skip
    print("threshold  accept_true  accept_corrupt")
    for row in table:
        print(f"{row['threshold']:9.2f}  {row['accept_true']:11.3f}  {row['accept_corrupt']:14.3f}")
    current = next(r for r in table if r["threshold"] == configured)
    (out / "calibration.json").write_text(
        json.dumps({**result, "table": table, "checks": args.checks, "seed": args.seed}, indent=1)
    )
    print(f"results: {out / 'calibration.json'}")
    print(
        f"calibration: n={result['n']} threshold={current['threshold']} "
        f"accept_true={current['accept_true']:.3f} accept_corrupt={current['accept_corrupt']:.3f} "
        f"judge_calls={paid}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
