"""How often the error-correcting path writes back the failure it was shown, on the embedded teacher.

The workload: N training problems of a task (default: GSM8K, ``experiment=gsm8k``) posed as failures
with a wrong student answer (as `pada.calibrate.corrupt` marks one), or a run's real training failures
(``--records``). They go to the error-correcting generator once, chunked as the loop chunks them
(``generation.items_per_call`` failures a request; the generator asks for fewer per call when
``teacher.max_tokens`` cannot hold that many worked solutions). It counts the problems the teacher
wrote, those dropped before the gate as copies of a failure shown (or of held-out text, or repeats),
and the output tokens spent per kept problem. No gate runs: this measures only the copying that the
gate never sees but still pays for. Compare a prompt or schema change on the error path by running
this before and after it, on the same seed and failures.

Printed: one line per kept problem, then a last line a script can read::

    copies: failures=<n> calls=<n> written=<n> dropped=<n> kept=<n> tokens_per_kept=<n> wall_s=<s>

    python bench/copies.py                 # 24 GSM8K failures, ~6 minutes on 2 CPU cores
    python bench/copies.py --n 6           # a smaller workload
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
    p.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench" / "copies")
    p.add_argument("overrides", nargs="*", help="Hydra overrides (default: experiment=gsm8k)")
    args = p.parse_args(argv)

    from pada.agents import AgentSuite
    from pada.calibrate import compose, corrupt
    from pada.data import prepare_splits
    from pada.tasks import build_task
    from pada.tasks.io import read_records
    from pada.tasks.schema import EvalRecord

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
    with AgentSuite.open(cfg.teacher, None, cfg.embedder, cfg.pattern_mining, cfg.generation, run_dir=out,
                         seed=args.seed, task=build_task(cfg.dataset).description) as agents:  # fmt: skip
        agents.hold_out(i.question for i in [*splits.validation, *splits.test])
        agents.remember_solutions([*splits.train, *splits.validation])
        per_call = max(1, int(cfg.generation.items_per_call))  # chunked as the loop does; the generator
        # splits a chunk further when max_tokens cannot hold that many worked solutions
        chunks = [failures[i : i + per_call] for i in range(0, len(failures), per_call)]
        kept = agents.in_parallel([(lambda c=c: agents.generate_from_train_errors(c)) for c in chunks])
        usage = agents.usage.to_dict()["agents"].get("error_generation", {})
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
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "copies.json").write_text(json.dumps(result, indent=1))
    for q in result["kept_questions"]:
        print(f"kept: {q[:160]}")
    per_kept = tokens / len(kept) if kept else float("inf")
    print(f"copies: failures={len(failures)} calls={calls} written={result['written']} dropped={dropped} "
          f"kept={len(kept)} tokens_per_kept={per_kept:.0f} wall_s={wall:.1f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
