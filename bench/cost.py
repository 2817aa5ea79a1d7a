"""What pada costs in teacher calls, tokens and time, measured side by side on the embedded assets.

One invocation runs four parts and prints one table per part, each with the ratio it is about
(absolute times are printed for context, never compared with a target):

1. ``methods``: ``pada`` and ``llm2llm`` on the smoke experiment at the same accepted-item budget,
   each a real ``python -m pada`` run: teacher calls and tokens per accepted synthetic item.
2. ``resume``: the same ``pada`` command run again on its finished run folder: the teacher calls it
   pays and its wall time, against the fresh run's.
3. ``scaling``: error analysis, pattern summaries and strategy drafts for N = 10 and 40 real
   validation failures of the zero-shot student (and 160 with ``--sizes 10,40,160``; nested samples,
   one teacher cache): analysis calls grow with N, pattern and strategy calls with the number of
   clusters K, which the config bounds. The analyses are independent calls, so this part runs the
   teacher's server with 8 slots (``--scaling-set`` changes it).
4. ``batching``: one strategy's items written one per generation call and ``generation.items_per_call``
   (5) per call: items per call, calls, tokens and wall time per item.

Every part uses the embedded teacher (Qwen2.5-Coder-1.5B on llama.cpp); the methods, resume and
batching parts run it as the experiments do (``conf/teacher/local.yaml``: llama-server, 4 slots). The
SmolLM2-135M GGUF was tried for the scaling part and parsed 3 of 10 analyses in 27 calls, so it is
not offered as a shortcut. Everything is written to ``<out>/cost.json`` and ``<out>/cost.md``.

    python bench/cost.py                          # all parts, N = 10 and 40
    python bench/cost.py --sizes 10,40,160        # N = 160 too (~12 more minutes on 2 cores)
    python bench/cost.py --parts scaling --scaling-set teacher.concurrency=1   # one call at a time
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pada import offline

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("methods", "resume", "scaling", "batching")
#: The scaling part's teacher: its analyses are independent calls, which the server's slots decode
#: together; the other parts run the teacher as the experiments do.
SCALING_TEACHER = ["teacher.concurrency=8", "teacher.n_ctx=2048"]
offline.apply()


# ---------------------------------------------------------------------------------------- helpers


def compose(*overrides: str) -> Any:
    """pada's config, composed as ``python -m pada`` would (without a run folder)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from pada.config import register

    register()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides))


def ratio(a: float | None, b: float | None) -> str:
    """``a / b`` as ``1.23x``, or ``n/a`` when it is undefined."""
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}x"


def per(a: float, n: int) -> float | None:
    """``a`` per unit of ``n`` (``None`` for ``n == 0``)."""
    return a / n if n else None


def fmt(value: Any, digits: int = 1) -> str:
    """A table cell."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(head: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def run_pada(overrides: list[str], log: Path) -> float:
    """Run ``python -m pada`` with ``overrides``; return its wall time. Raises if it fails."""
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.run([sys.executable, "-m", "pada", *overrides], cwd=ROOT, stdout=fh,
                              stderr=subprocess.STDOUT, check=False)  # fmt: skip
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"python -m pada {' '.join(overrides)} failed (exit {proc.returncode}); see {log}")
    return wall


def agent_calls(usage: dict[str, Any], *agents: str) -> int:
    """Calls actually paid (cache hits excluded) by the given agents of a ``UsageMeter.to_dict()``."""
    got = usage.get("agents", {})
    return sum(got.get(a, {}).get("calls", 0) - got.get(a, {}).get("cache_hits", 0) for a in agents)


# ---------------------------------------------------------------------------------------- parts


def part_methods(out: Path, seed: int, budget: int | None, teacher: list[str]) -> dict[str, Any]:
    """pada and llm2llm on the smoke experiment: teacher calls and tokens per accepted item."""
    rows = {}
    for method in ("pada", "llm2llm"):
        run_dir = out / "runs" / method
        shutil.rmtree(run_dir, ignore_errors=True)
        overrides = ["experiment=smoke", f"method={method}", f"seed={seed}", "logger=none",
                     f"hydra.run.dir={run_dir}", *teacher]  # fmt: skip
        if budget is not None:
            overrides.append(f"generation.budget={budget}")
        print(f"[methods] python -m pada {' '.join(overrides)}", flush=True)
        wall = run_pada(overrides, out / f"methods_{method}.log")
        metrics = json.loads((run_dir / "metrics.json").read_text())
        final = metrics["final"]
        usage = json.loads((run_dir / "teacher_usage.json").read_text())
        total = usage["total"]
        accepted = int(final.get("synthetic_items", 0))
        generated = sum(int(r.get("generated") or 0) for r in metrics.get("rounds") or [])
        calls = total["calls"] - total["cache_hits"]
        tokens = total["input_tokens"] + total["output_tokens"]
        rows[method] = {
            "overrides": overrides,
            "generated": generated,
            "accepted": accepted,
            "teacher_calls": calls,
            "teacher_tokens": tokens,
            "calls_per_item": per(calls, accepted),
            "tokens_per_item": per(tokens, accepted),
            "calls_per_generated": per(calls, generated),
            "teacher_s": total["wall_s"],
            "wall_s": wall,
            "calls_by_agent": {a: u["calls"] - u["cache_hits"] for a, u in usage["agents"].items()},
        }
    p, b = rows["pada"], rows["llm2llm"]
    rows["ratios"] = {
        "calls_per_item": ratio(p["calls_per_item"], b["calls_per_item"]),
        "tokens_per_item": ratio(p["tokens_per_item"], b["tokens_per_item"]),
        "calls_per_generated": ratio(p["calls_per_generated"], b["calls_per_generated"]),
    }
    return rows


def part_resume(out: Path, methods: dict[str, Any]) -> dict[str, Any]:
    """The finished pada run's command again: what resuming costs against the fresh run."""
    fresh = methods["pada"]
    run_dir = out / "runs" / "pada"
    print("[resume] the same command again on the finished run folder", flush=True)
    wall = run_pada(fresh["overrides"], out / "resume_pada.log")
    attempt = json.loads((run_dir / "metrics.json").read_text())["final"]["attempt"]
    return {
        "fresh": {"teacher_calls": fresh["teacher_calls"], "wall_s": fresh["wall_s"]},
        "resumed": {
            "teacher_calls": attempt["teacher_calls_paid"],
            "cache_hits": attempt["teacher_cache_hits"],
            "wall_s": wall,
        },
        "ratios": {
            "teacher_calls": ratio(attempt["teacher_calls_paid"], fresh["teacher_calls"]),
            "wall_s": ratio(wall, fresh["wall_s"]),
        },
    }


def student_failures(cfg: Any, needed: int) -> list[Any]:
    """The zero-shot student's validation failures, in a seeded random order."""
    from pada.data import prepare_splits
    from pada.training.evaluate import evaluate_items, load_for_eval

    splits = prepare_splits(cfg.dataset)
    model, tokenizer = load_for_eval(cfg.model, device="cpu")
    records = evaluate_items(model, tokenizer, splits.validation, "validation",
                             batch_size=int(cfg.trainer.eval_batch_size),
                             max_length=int(cfg.model.max_length))  # fmt: skip
    del model
    failures = sorted((r for r in records if not r.correct), key=lambda r: r.id)
    random.Random(cfg.seed).shuffle(failures)
    if len(failures) < needed:
        print(f"[scaling] only {len(failures)} failures among {len(records)} validation items", flush=True)
    return failures


def part_scaling(
    out: Path, seed: int, sizes: list[int], teacher: list[str], project: int | None
) -> dict[str, Any]:
    """Analysis, pattern and strategy calls as the number of validation failures grows."""
    from omegaconf import open_dict

    from pada.agents import AgentSuite
    from pada.io import write_jsonl
    from pada.tasks import build_task

    # The zero-shot student fails about two thirds of scireason's questions; a small sample varies
    # more (7 failures among 15 items was seen), hence the floor of 32 items.
    val_size = max(32, math.ceil(max(sizes) / 0.55))
    overrides = [
        f"seed={seed}",
        "dataset.train_size=48",
        f"dataset.val_size={val_size}",
        "dataset.test_size=32",
    ]
    cfg = compose(*overrides, *teacher)
    print(f"[scaling] scoring {val_size} validation items with the zero-shot student", flush=True)
    failures = student_failures(cfg, max(sizes))
    root = out / "scaling"
    shutil.rmtree(root, ignore_errors=True)
    teacher_cfg = cfg.teacher.copy()
    with open_dict(teacher_cfg):
        # One cache for every N: the samples are nested, and the largest N runs first (its analyses
        # fill every slot of a batched teacher), so the smaller N find their analyses in the cache.
        # The table counts every call a fresh run would make (paid + served from cache).
        teacher_cfg.cache_dir = str(root / "teacher_cache")
    rows = []
    for n in sorted(sizes, reverse=True):
        subset = failures[:n]  # nested samples: N=40 holds the N=10 failures
        pm = cfg.pattern_mining.copy()
        with open_dict(pm):
            pm.max_failures = len(subset)
        run_dir = root / f"n{n}"
        run_dir.mkdir(parents=True)
        print(f"[scaling] N={len(subset)}: analyse, cluster, summarize, draft", flush=True)
        start = time.perf_counter()
        with AgentSuite.open(teacher_cfg, None, cfg.embedder, pm, cfg.generation, run_dir=run_dir,
                             seed=seed, task=build_task(cfg.dataset).description) as agents:  # fmt: skip
            t0 = time.perf_counter()
            analyses = agents.analyze_errors(subset)
            analysis_s = time.perf_counter() - t0
            mining = agents.mine_patterns(analyses, out_dir=run_dir)
            patterns = agents.summarize_patterns(mining, analyses)
            strategies = agents.draft_strategies(patterns)
            usage = agents.usage.to_dict()
        write_jsonl(run_dir / "analyses.jsonl", [a.to_dict() for a in analyses])
        (run_dir / "strategies.json").write_text(json.dumps([s.to_dict() for s in strategies], indent=2))
        (run_dir / "usage.json").write_text(json.dumps(usage, indent=2))
        a = usage["agents"].get("error_analysis", {})
        rows.append({
            "failures": len(subset),
            "analyses": len(analyses),
            "k": mining.k,
            "analysis_calls": a.get("calls", 0),
            "analysis_calls_paid": a.get("calls", 0) - a.get("cache_hits", 0),
            "analysis_s_paid": analysis_s,
            "pattern_calls": usage["agents"].get("pattern_summary", {}).get("calls", 0),
            "strategy_calls": usage["agents"].get("strategy_draft", {}).get("calls", 0),
            "wall_s": time.perf_counter() - start,
        })  # fmt: skip
    rows.sort(key=lambda r: r["failures"])
    first, last = rows[0], rows[-1]
    result: dict[str, Any] = {
        "teacher": f"{cfg.teacher.model} ({_runtime(cfg.teacher)})",
        "k_max": int(cfg.pattern_mining.k_max),
        "rows": rows,
        "ratios": {
            "failures": ratio(last["failures"], first["failures"]),
            "analysis_calls": ratio(last["analysis_calls"], first["analysis_calls"]),
            "pattern_and_strategy_calls": ratio(
                last["pattern_calls"] + last["strategy_calls"],
                first["pattern_calls"] + first["strategy_calls"],
            ),
        },
    }
    if project and project > last["failures"]:
        # Not measured: analysis calls scale with the failures as measured; K (so pattern and strategy
        # calls) stays within the configured range whatever N is.
        paid = sum(r["analysis_calls_paid"] for r in rows)
        paid_s = sum(r["analysis_s_paid"] for r in rows)
        result["projection"] = {
            "failures": project,
            "analysis_calls": round(last["analysis_calls"] / last["failures"] * project),
            "analysis_s": round(paid_s / paid * last["analysis_calls"] / last["failures"] * project)
            if paid
            else None,
            "max_pattern_and_strategy_calls": 2 * result["k_max"],
        }
    return result


def part_batching(
    out: Path, seed: int, n_items: int, methods: dict[str, Any] | None, teacher: list[str]
) -> dict[str, Any]:
    """One strategy's items, one per generation call against the default number per call (5)."""
    from omegaconf import open_dict

    from pada.agents import AgentSuite
    from pada.agents.records import Strategy
    from pada.data import prepare_splits
    from pada.tasks import build_task

    cfg = compose("experiment=smoke", f"seed={seed}", *teacher)
    splits = prepare_splits(cfg.dataset)
    strategy = _a_strategy(out, methods)
    exemplars = list(splits.train[: int(cfg.generation.exemplars)])
    held_out = [it.question for it in (*splits.validation, *splits.test)]
    rows = []
    for per_call in (1, int(cfg.generation.items_per_call)):
        gen = cfg.generation.copy()
        with open_dict(gen):
            gen.items_per_call = per_call
        run_dir = out / "batching" / f"items_per_call_{per_call}"
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        print(f"[batching] {n_items} items, {per_call} per call", flush=True)
        start = time.perf_counter()
        with AgentSuite.open(cfg.teacher, None, None, cfg.pattern_mining, gen, run_dir=run_dir,
                             seed=seed, task=build_task(cfg.dataset).description) as agents:  # fmt: skip
            agents.hold_out(held_out)
            items = agents.generate_from_strategy(Strategy.from_dict(strategy), exemplars, n=n_items)
            usage = agents.usage.to_dict()
        total = usage["total"]
        gen_calls = agent_calls(usage, "pattern_generation")
        rows.append({
            "items_per_call_setting": per_call,
            "items": len(items),
            "generation_calls": gen_calls,
            "items_per_call": per(len(items), gen_calls),
            "all_calls": total["calls"] - total["cache_hits"],
            "tokens": total["input_tokens"] + total["output_tokens"],
            "wall_s": time.perf_counter() - start,
        })  # fmt: skip
        (run_dir / "usage.json").write_text(json.dumps(usage, indent=2))
    off, on = rows
    return {
        "strategy": strategy["id"],
        "rows": rows,
        "ratios": {
            "calls": ratio(on["all_calls"], off["all_calls"]),
            "tokens": ratio(on["tokens"], off["tokens"]),
            "wall_s_per_item": ratio(per(on["wall_s"], on["items"]), per(off["wall_s"], off["items"])),
        },
    }


def _runtime(teacher: Any) -> str:
    """How the teacher runs, for the tables' headings."""
    from pada.teacher.providers import provider_name

    if provider_name(teacher) != "local":
        return f"{provider_name(teacher)}, concurrency {teacher.concurrency}"
    return f"llama-server, {teacher.concurrency} slots"


def _a_strategy(out: Path, methods: dict[str, Any] | None) -> dict[str, Any]:
    # A real strategy: the one the pada run drafted (part 1), else one from the scaling part.
    drafted = out / "runs" / "pada" / "round_0" / "draft_strategies" / "strategies.json"
    for path in [drafted, *sorted((out / "scaling").glob("n*/strategies.json"))]:
        if path.is_file() and (found := json.loads(path.read_text())):
            return found[0]
    return {
        "id": "strategy-bench",
        "pattern_id": "bench",
        "pattern": "Confuses the states of matter when a substance is heated or cooled.",
        "what_to_write": "Questions on melting, freezing, evaporation and condensation of everyday things.",
        "what_to_vary": "The substance, the direction of the temperature change and the setting.",
        "what_to_avoid": "Questions that need a calculation.",
    }


# ---------------------------------------------------------------------------------------- report


def render(results: dict[str, Any]) -> str:
    """The benchmark's tables as Markdown."""
    out = [f"# pada cost benchmark ({results['date']}, {results['machine']})", "",
           f"Command: `{results['command'].strip()}`; overrides in every part: "
           f"`{' '.join(results.get('overrides') or []) or 'none'}`; in the scaling part: "
           f"`{' '.join(results.get('scaling_overrides') or []) or 'none'}`", ""]  # fmt: skip
    if m := results.get("methods"):
        out += ["## Teacher cost per accepted item, pada vs llm2llm (smoke experiment, same budget)", ""]
        out.append(table(
            ["method", "generated", "accepted", "teacher calls", "tokens", "calls / accepted",
             "tokens / accepted", "calls / generated", "teacher s", "wall s"],
            [[k, r["generated"], r["accepted"], r["teacher_calls"], r["teacher_tokens"], r["calls_per_item"],
              r["tokens_per_item"], r["calls_per_generated"], r["teacher_s"], r["wall_s"]]
             for k, r in m.items() if k != "ratios"],
        ))  # fmt: skip
        q = m["ratios"]
        out += ["", f"pada / llm2llm: calls per accepted item {q['calls_per_item']}, tokens per accepted "
                    f"item {q['tokens_per_item']}, calls per generated item {q['calls_per_generated']} "
                    "(n/a: a method accepted nothing at this budget and seed)", ""]  # fmt: skip
    if r := results.get("resume"):
        out += ["## Resuming a finished run vs running it fresh", ""]
        out.append(table(["run", "teacher calls paid", "wall s"],
                         [["fresh", r["fresh"]["teacher_calls"], r["fresh"]["wall_s"]],
                          ["resumed", r["resumed"]["teacher_calls"], r["resumed"]["wall_s"]]]))  # fmt: skip
        out += ["", f"resumed / fresh: teacher calls {r['ratios']['teacher_calls']}, "
                    f"wall time {r['ratios']['wall_s']}", ""]  # fmt: skip
    if s := results.get("scaling"):
        out += [
            f"## Calls as validation failures grow (teacher: {s['teacher']}, K searched in 1..{s['k_max']})",
            "",
        ]
        rows = [[r["failures"], r["analyses"], r["k"], r["analysis_calls"], r["analysis_calls_paid"],
                 r["pattern_calls"], r["strategy_calls"], r["wall_s"]] for r in s["rows"]]  # fmt: skip
        if pr := s.get("projection"):
            k = f"≤ {s['k_max']}"
            rows.append([f"{pr['failures']} (projected)", "–", k, pr["analysis_calls"], "–", k, k,
                         f"~{pr['analysis_s']} (analysis)"])  # fmt: skip
        out.append(table(
            ["failures", "analyses", "K", "analysis calls", "of which paid", "pattern calls",
             "strategy calls", "wall s"], rows,
        ))  # fmt: skip
        q = s["ratios"]
        out += ["", f"largest / smallest measured N: failures {q['failures']}, analysis calls "
                    f"{q['analysis_calls']}, pattern + strategy calls {q['pattern_and_strategy_calls']}. "
                    "The samples are nested and share one teacher cache; the largest N ran first, so "
                    "'of which paid' is what each N paid and 'wall s' the time it took; the other columns "
                    "count every call a fresh run makes.", ""]  # fmt: skip
    if b := results.get("batching"):
        out += ["## Generation batching: items per call 1 vs the default", ""]
        out.append(table(
            ["items per call (setting)", "items", "generation calls", "items / call", "all calls", "tokens",
             "wall s"],
            [[r["items_per_call_setting"], r["items"], r["generation_calls"], r["items_per_call"],
              r["all_calls"], r["tokens"], r["wall_s"]] for r in b["rows"]],
        ))  # fmt: skip
        q = b["ratios"]
        out += ["", f"3 per call / 1 per call: calls {q['calls']}, tokens {q['tokens']}, "
                    f"wall time per item {q['wall_s_per_item']}", ""]  # fmt: skip
    out += [f"Total bench wall time: {results['wall_s']:.0f} s", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen parts, print their tables, and save ``cost.json`` / ``cost.md``."""
    p = argparse.ArgumentParser(prog="python bench/cost.py", description=__doc__.split("\n")[0])
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from {', '.join(PARTS)}")
    p.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench" / "cost")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget", type=int, default=None, help="accepted items per round (default: smoke's)")
    # 160 is one flag away (--sizes 10,40,160): its analyses alone take ~12 minutes on 2 cores, which
    # keeps the whole bench over 20 minutes (docs/results.md).
    p.add_argument("--sizes", default="10,40", help="validation failures analysed, comma-separated")
    p.add_argument("--project", type=int, default=None, help="also project the scaling table to this N")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config override for every part, e.g. teacher.model=/path/to.gguf (repeatable)",
    )
    p.add_argument("--scaling-set", action="append", default=None, metavar="KEY=VALUE",
                   help="overrides for the scaling part only (repeatable; default: "
                        + " ".join(SCALING_TEACHER) + ")")  # fmt: skip
    p.add_argument("--batch-items", type=int, default=10, help="items generated per batching mode")
    args = p.parse_args(argv)
    parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        p.error(f"unknown part(s) {sorted(unknown)}; choose from {', '.join(PARTS)}")
    if "resume" in parts and "methods" not in parts:
        p.error("the resume part resumes the methods part's pada run: add methods to --parts")
    args.out.mkdir(parents=True, exist_ok=True)
    teacher = list(args.set)
    scaling_teacher = [*teacher, *(SCALING_TEACHER if args.scaling_set is None else args.scaling_set)]

    start = time.perf_counter()
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} CPU cores",
        "command": "python bench/cost.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "overrides": teacher,
        "scaling_overrides": scaling_teacher,
    }
    if "methods" in parts:
        results["methods"] = part_methods(args.out, args.seed, args.budget, teacher)
    if "resume" in parts:
        results["resume"] = part_resume(args.out, results["methods"])
    if "scaling" in parts:
        sizes = [int(x) for x in args.sizes.split(",")]
        results["scaling"] = part_scaling(args.out, args.seed, sizes, scaling_teacher, args.project)
    if "batching" in parts:
        results["batching"] = part_batching(
            args.out, args.seed, args.batch_items, results.get("methods"), teacher
        )
    results["wall_s"] = time.perf_counter() - start
    (args.out / "cost.json").write_text(json.dumps(results, indent=2, default=str))
    text = render(results)
    (args.out / "cost.md").write_text(text)
    print("\n" + text)
    print(f"wrote {args.out / 'cost.json'} and {args.out / 'cost.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
