"""How often the error-correcting path writes back the failure it was shown, on the embedded teacher.

The workload: N training problems of a task (default: GSM8K, ``experiment=gsm8k``) posed as failures
with a wrong student answer (as `pada.calibrate.corrupt` marks one), or a run's real training failures
(``--records``). They go to the error-correcting generator once, chunked as the loop chunks them
(``generation.items_per_call`` failures a request; the generator asks for fewer per call when
``teacher.max_tokens`` cannot hold that many worked solutions). It counts the problems the teacher
wrote, those dropped before the gate as copies of a failure shown (or of held-out text, or repeats),
and the output tokens spent per kept problem. By default no gate runs: this measures only the
copying that the gate never sees but still pays for. With ``--judge`` the kept problems then go to
the judge as the gate sends them (an independent solve whose final answer must match), and the last
line adds how many it accepted, so that a change that keeps more problems is also seen to keep good
ones. Compare a prompt or schema change on the error path by running this before and after it, on
the same seed and failures.

Printed: one line per kept problem, then a last line a script can read::

    copies: failures=<n> calls=<n> written=<n> dropped=<n> kept=<n> tokens_per_kept=<n> wall_s=<s>
    (with --judge, before wall_s: accepted=<n> judge_calls=<n>)

    python bench/copies.py                 # 24 GSM8K failures, ~6 minutes on 2 CPU cores
    python bench/copies.py --n 6           # a smaller workload
    python bench/copies.py --n 12 --judge  # and how many of the kept problems the judge accepts
    python bench/copies.py --records outputs/gsm8k/<run>/round_0/evaluate/train_records.jsonl

With ``--records`` the failures are a run's real ones (the same split: pass the run's overrides too).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from pada import offline

offline.apply()

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    """Pose N training problems as failures, run the error-correcting path once on them, count copies."""
    p = argparse.ArgumentParser(prog="python bench/copies.py", description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=24, help="training problems posed as failures")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--records",
        type=Path,
        default=None,
        help="a run's train_records.jsonl: pose its real failures (what the student wrote) instead",
    )
    p.add_argument("--judge", action="store_true", help="also judge the kept problems as the gate does")
    p.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench" / "copies")
    p.add_argument("overrides", nargs="*", help="Hydra overrides (default: experiment=gsm8k)")
    args = p.parse_args(argv)

    from pada.agents import AgentSuite
    from pada.calibrate import compose, corrupt
    from pada.data import prepare_splits
    from pada.loop.quality_gate import judge_score, passes_judge
    from pada.tasks import build_task
    from pada.tasks.io import read_records
    from pada.tasks.schema import EvalRecord
    from pada.teacher.lm import distinct_judge

    cfg = compose(args.overrides or ["experiment=gsm8k"])
    out = args.out / time.strftime("%Y-%m-%d_%H-%M-%S")
    splits = prepare_splits(cfg.dataset, out)
    if args.records:
        failures = [r for r in read_records(args.records) if not r.correct][: args.n]
    else:
        rng = random.Random(args.seed)
        train = list(splits.train)
        posed = rng.sample(train, min(args.n, len(train)))
        failures = [
            EvalRecord(i.id, "train", i.question, [], corrupt(i, rng, train).answer, i.answer, False)
            for i in posed
        ]
    start = time.perf_counter()
    judge = distinct_judge(cfg.teacher, cfg.judge) if args.judge else None
    with AgentSuite.open(cfg.teacher, judge, cfg.embedder, cfg.pattern_mining, cfg.generation, run_dir=out,
                         seed=args.seed, task=build_task(cfg.dataset).description,
                         task_kind=str(cfg.dataset.kind),
                         judge_batch=int(cfg.quality_gate.judge_batch)) as agents:  # fmt: skip
        agents.hold_out(i.question for i in [*splits.validation, *splits.test])
        agents.remember_solutions([*splits.train, *splits.validation])
        per_call = max(1, int(cfg.generation.items_per_call))  # chunked as the loop does; the generator
        # splits a chunk further when max_tokens cannot hold that many worked solutions
        chunks = [failures[i : i + per_call] for i in range(0, len(failures), per_call)]
        kept = agents.in_parallel([(lambda c=c: agents.generate_from_train_errors(c)) for c in chunks])
        usage = agents.usage.to_dict()["agents"].get("error_generation", {})
        threshold = float(cfg.quality_gate.judge_threshold)
        verdicts = agents.judge(kept) if args.judge and kept else []
        passed = [passes_judge(judge_score(v), threshold) for v in verdicts]
        judging = [u for name, u in agents.usage.to_dict()["agents"].items() if name.startswith("judge")]
    wall = time.perf_counter() - start
    dropped = int(usage.get("dropped", 0))
    calls = int(usage.get("calls", 0)) - int(usage.get("cache_hits", 0))
    tokens = int(usage.get("output_tokens", 0))
    result = {
        "failures": len(failures),
        "per_call": per_call,
        "calls": calls,
        "written": len(kept) + dropped,
        "dropped": dropped,
        "kept": len(kept),
        "parse_failures": int(usage.get("parse_failures", 0)),
        "output_tokens": tokens,
        "wall_s": wall,
        "kept_questions": [g.item.question for g in kept],
        "accepted": [g.item.question for g, ok in zip(kept, passed, strict=True) if ok]
        if args.judge
        else None,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "copies.json").write_text(json.dumps(result, indent=1))
    for i, q in enumerate(result["kept_questions"]):
        verdict = ("accepted " if passed[i] else "rejected ") if args.judge else ""
        print(f"kept: {verdict}{q[:160]}")
    per_kept = tokens / len(kept) if kept else float("inf")
    gate = ""
    if args.judge:
        judge_calls = sum(int(u.get("calls", 0)) - int(u.get("cache_hits", 0)) for u in judging)
        gate = f"accepted={sum(passed)} judge_calls={judge_calls} "
    print(f"copies: failures={len(failures)} calls={calls} written={result['written']} dropped={dropped} "
          f"kept={len(kept)} tokens_per_kept={per_kept:.0f} {gate}wall_s={wall:.1f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
