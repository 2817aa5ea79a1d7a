"""What one accepted synthetic item costs the embedded teacher, at the default number of slots and at one.

One workload, run twice side by side in this process (a fresh server and a fresh teacher cache
each time, so both pay for every call): items written from three fixed strategies on the pattern path
(real scireason training items as style exemplars) plus one item for each of several real training
items posed as failures on the error-correcting path, then the quality gate (cheap checks, then one
scored blind solve per surviving item). Then the gate's calibration (:mod:`pada.calibrate`): its
acceptance of real training items with their true labels and with a wrong option marked as the
answer, at the configured ``quality_gate.judge_threshold``.

Printed, one line per figure, then a last line a script can read::

    items: per_accepted_s=<s> calls_per_accepted=<n> slots_speedup=<x> accept_true=<r> accept_corrupt=<r>

``per_accepted_s`` and ``calls_per_accepted`` are the default-slot run's teacher wall seconds and
paid calls (topic plans, generation and judging) per accepted item; ``slots_speedup`` is its output
tokens per second over the one-slot run's. Every figure is a ratio or a rate measured in this run;
none is compared with a target here.

    python bench/items.py            # ~12 minutes on 2 CPU cores
    python bench/items.py --quick    # a smaller workload, under 5 minutes
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from pada import offline

offline.apply()

ROOT = Path(__file__).resolve().parents[1]

STRATEGIES = [
    {
        "pattern": "Changes of state: the student confuses melting, freezing, evaporation and condensation.",
        "what_to_write": "Questions that name the change of state behind an everyday observation.",
        "what_to_vary": "the substance, the temperature and the situation",
        "what_to_avoid": "questions with two defensible answers",
    },
    {
        "pattern": "Food chains: the student mixes up producers, consumers and decomposers.",
        "what_to_write": "Questions about the role of an organism in a food chain or web.",
        "what_to_vary": "the ecosystem and the organisms",
        "what_to_avoid": "organisms with more than one common role",
    },
    {
        "pattern": "Forces and motion: the student confuses mass, weight, friction and gravity.",
        "what_to_write": "Questions that ask which force explains a described motion.",
        "what_to_vary": "the object, the surface and the direction of motion",
        "what_to_avoid": "questions that need a calculation",
    },
]


def workload(cfg: Any, slots: int, n_pattern: int, n_errors: int, out: Path, seed: int) -> dict[str, Any]:
    """Generate and gate items on a fresh server with ``slots`` slots; return what it cost."""
    from omegaconf import OmegaConf

    from pada.agents import AgentSuite, Strategy
    from pada.data import prepare_splits
    from pada.loop.budget import proportional
    from pada.loop.quality_gate import QualityGate, judge_score
    from pada.tasks import build_task
    from pada.tasks.schema import EvalRecord, MCItem

    splits = prepare_splits(cfg.dataset, out)
    train = [i for i in splits.train if isinstance(i, MCItem)]
    rng = random.Random(seed)
    exemplars = rng.sample(train, int(cfg.generation.exemplars))
    posed = rng.sample([i for i in train if i not in exemplars], n_errors)
    failures = [
        EvalRecord(i.id, "train", i.question, list(i.choices), "ABCDEFGH"[(i.answer + 1) % len(i.choices)],
                   i.answer_letter, False)
        for i in posed
    ]  # fmt: skip
    strategies = [
        Strategy(id=f"strategy-bench-{k}", pattern_id=f"pattern-{k}", **s) for k, s in enumerate(STRATEGIES)
    ]
    teacher = OmegaConf.merge(cfg.teacher, {"concurrency": slots})
    per_call = int(cfg.generation.items_per_call)
    with AgentSuite.open(teacher, None, cfg.embedder, cfg.pattern_mining, cfg.generation, run_dir=out,
                         seed=seed, task=build_task(cfg.dataset).description,
                         judge_checks=bool(cfg.quality_gate.judge_checks),
                         judge_batch=int(cfg.quality_gate.judge_batch)) as agents:  # fmt: skip
        held_out = [*splits.validation, *splits.test]
        agents.hold_out(i.question for i in held_out)
        gate = QualityGate(cfg.quality_gate, agents.embedder.encode, train, held_out)
        start = time.perf_counter()
        tasks = [
            (lambda s=s, n=n: agents.generate_from_strategy(s, exemplars, n))
            for s, n in zip(strategies, proportional(n_pattern, [1] * len(strategies)), strict=True)
        ]
        tasks += [
            (lambda c=failures[i : i + per_call]: agents.generate_from_train_errors(c))
            for i in range(0, len(failures), per_call)
        ]
        batch = agents.in_parallel(tasks)
        generated_s = time.perf_counter() - start
        items = [g.item for g in batch]
        screened = gate.prescreen(items)
        verdicts = agents.judge([g for g, why in zip(batch, screened, strict=True) if not why])
        decisions = gate.check(items, {v.item_id: (judge_score(v), v.reasons) for v in verdicts})
        wall = time.perf_counter() - start
        usage = agents.usage.to_dict()
    agents_usage = usage["agents"]
    gen_agents = ("topic_plan", "pattern_generation", "error_generation")
    gen_out = sum(agents_usage.get(a, {}).get("output_tokens", 0) for a in gen_agents)
    total = usage["total"]
    reasons: dict[str, int] = {}
    for d in decisions:
        for kind in set(d.reason_kinds):
            reasons[kind] = reasons.get(kind, 0) + 1
    return {
        "slots": slots,
        "asked": n_pattern + n_errors,
        "generated": len(batch),
        "judged": len(verdicts),
        "accepted": sum(d.accepted for d in decisions),
        "rejected_by_reason": reasons,
        "calls": total["calls"] - total["cache_hits"],
        "calls_by_agent": {a: u["calls"] - u["cache_hits"] for a, u in agents_usage.items()},
        "parse_failures": total["parse_failures"],
        "output_tokens": total["output_tokens"],
        "input_tokens": total["input_tokens"],
        "generation_output_tokens": gen_out,
        "generation_s": generated_s,
        "wall_s": wall,
        "generation_tokens_per_s": gen_out / generated_s if generated_s else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the workload at the default slots and at one slot, then the calibration; print the figures."""
    p = argparse.ArgumentParser(prog="python bench/items.py", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a smaller workload (under 5 minutes on 2 cores)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench" / "items")
    p.add_argument("overrides", nargs="*", help="Hydra overrides (default: experiment=scireason)")
    args = p.parse_args(argv)
    from pada.calibrate import acceptance, calibrate, compose
    from pada.teacher import providers

    cfg = compose(args.overrides or ["experiment=scireason"])
    n_pattern, n_errors, n_calib = (10, 5, 40) if args.quick else (30, 15, 200)
    out = args.out / time.strftime("%Y-%m-%d_%H-%M-%S")
    slots = int(cfg.teacher.concurrency)
    start = time.perf_counter()
    runs = {}
    for k in dict.fromkeys((slots, 1)):  # the default first; one slot unless that is the default
        print(f"[items] {n_pattern} pattern + {n_errors} error-correcting items at {k} slot(s)", flush=True)
        runs[k] = workload(cfg, k, n_pattern, n_errors, out / f"slots{k}", args.seed)
    print(f"[calibration] {n_calib} training items, true and corrupted labels", flush=True)
    calib = calibrate(cfg, n_calib, args.seed, bool(cfg.quality_gate.judge_checks), out / "calibration")
    threshold = float(cfg.quality_gate.judge_threshold)
    accept_true = acceptance(calib["rows"]["true"], threshold)
    accept_corrupt = acceptance(calib["rows"]["corrupt"], threshold)

    main_run, one = runs[slots], runs[1]
    accepted = main_run["accepted"]
    per_accepted_s = main_run["wall_s"] / accepted if accepted else float("inf")
    calls_per_accepted = main_run["calls"] / accepted if accepted else float("inf")
    one_rate = one["generation_tokens_per_s"]
    speedup = main_run["generation_tokens_per_s"] / one_rate if one_rate else 0.0
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} CPU cores",
        "command": "python bench/items.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "teacher": f"{providers.provider_name(cfg.teacher)} {cfg.teacher.model}",
        "items_per_call": int(cfg.generation.items_per_call),
        "judge_threshold": threshold,
        "runs": runs,
        "calibration": {
            "n": calib["n"],
            "threshold": threshold,
            "accept_true": accept_true,
            "accept_corrupt": accept_corrupt,
            "calls": calib["usage"]["calls"] - calib["usage"]["cache_hits"],
            "wall_s": calib["wall_s"],
        },
        "wall_s": time.perf_counter() - start,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "items.json").write_text(json.dumps(result, indent=1))
    for k, r in runs.items():
        print(f"slots={k}: asked {r['asked']}, generated {r['generated']}, judged {r['judged']}, "
              f"accepted {r['accepted']}; {r['calls']} calls ({r['calls_by_agent']}); "
              f"{r['wall_s']:.1f} s ({r['generation_s']:.1f} s writing); "
              f"{r['generation_tokens_per_s']:.1f} output tok/s writing; "
              f"rejected {r['rejected_by_reason']}")  # fmt: skip
    print(f"per accepted item at {slots} slots: {per_accepted_s:.2f} s, {calls_per_accepted:.2f} calls, "
          f"{main_run['output_tokens'] / max(1, accepted):.0f} output tokens")  # fmt: skip
    print(f"output tokens/s writing items, {slots} slots vs 1: {speedup:.2f}x")
    print(f"gate at threshold {threshold}: accepts {accept_true:.1%} of {calib['n']} true-label items, "
          f"{accept_corrupt:.1%} of corrupted-label items")  # fmt: skip
    print(f"bench wall: {result['wall_s']:.0f} s; results: {out / 'items.json'}")
    print(
        f"items: per_accepted_s={per_accepted_s:.2f} calls_per_accepted={calls_per_accepted:.2f} "
        f"slots_speedup={speedup:.2f} accept_true={accept_true:.3f} accept_corrupt={accept_corrupt:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
