"""How fast the embedded teacher decodes, side by side: OpenMP waiting, and batched sequences.

Two parts, each printed as a table with the ratio it is about (absolute rates are for context):

1. ``wait``: one sequence's decode rate under three OpenMP settings, on idle cores and next to a busy
   neighbour (a torch matmul loop on every core, as when the student trains): libgomp's default spin,
   ``OMP_WAIT_POLICY=PASSIVE`` (no spin), and pada's setting (``pada.agents.local_server.LLAMA_ENV``:
   passive after a short ``GOMP_SPINCOUNT``). Each measurement is a fresh process, because OpenMP
   reads its environment when it loads.
2. ``batched``: the same calls through :class:`~pada.agents.batched_engine.BatchedLlamaEngine` with
   1 slot and with ``--parallel`` slots (``teacher.backend=batched``, ``teacher.concurrency``):
   wall time and output tokens per second.

    python bench/teacher_decode.py                 # both parts, about 6 minutes on 2 CPU cores

Writes ``<out>/teacher_decode.json`` and ``<out>/teacher_decode.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cost import ratio, table  # noqa: E402  (bench/cost.py: the shared table helpers)

from pada import offline  # noqa: E402

offline.apply()

#: The OpenMP settings compared in the ``wait`` part (``None``: the variable is unset).
WAITS: dict[str, dict[str, str | None]] = {
    "libgomp default (spin)": {"OMP_WAIT_POLICY": None, "GOMP_SPINCOUNT": None},
    "passive (no spin)": {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": None},
    "pada (short spin, then passive)": {},  # filled from LLAMA_ENV in main()
}

_DECODE = r"""
import sys, time
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_ctx=512, n_threads=int(sys.argv[2]), n_threads_batch=int(sys.argv[2]),
            verbose=False)
llm.create_completion("Hello", max_tokens=2)
t = time.perf_counter()
out = llm.create_completion("The water cycle, explained step by step:", max_tokens=int(sys.argv[3]),
                            temperature=0.0)
print(out["usage"]["completion_tokens"] / (time.perf_counter() - t))
"""

_BUSY = r"""
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
a = torch.randn(384, 384)
while True:
    a = torch.tanh(a @ a)
"""


def decode_rate(gguf: Path, env_over: dict[str, str | None], threads: int, tokens: int, busy: bool) -> float:
    """Output tokens per second of one greedy sequence in a fresh process."""
    env = dict(os.environ)
    for key, value in env_over.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    neighbour = None
    if busy:
        neighbour = subprocess.Popen([sys.executable, "-c", _BUSY, str(threads)])
        time.sleep(2.0)
    try:
        out = subprocess.run([sys.executable, "-c", _DECODE, str(gguf), str(threads), str(tokens)], env=env,
                             capture_output=True, text=True, check=True, timeout=600)  # fmt: skip
    finally:
        if neighbour is not None:
            neighbour.kill()
            neighbour.wait()
    return float(out.stdout.strip().splitlines()[-1])


def part_wait(gguf: Path, threads: int, tokens: int, repeats: int) -> dict[str, Any]:
    """Decode rates per OpenMP setting, idle and busy (median of ``repeats`` fresh processes)."""
    rows = []
    for name, env_over in WAITS.items():
        row: dict[str, Any] = {"setting": name, "env": env_over}
        for busy in (False, True):
            rates = []
            for _ in range(repeats):
                rates.append(decode_rate(gguf, env_over, threads, tokens, busy))
            key = "busy" if busy else "idle"
            row[key] = statistics.median(rates)
            print(f"[wait] {name}, {key} cores: {row[key]:.1f} tok/s", flush=True)
        rows.append(row)
    base = rows[1]  # passive: pada's setting before this benchmark
    for row in rows:
        row["idle_vs_passive"] = ratio(row["idle"], base["idle"])
        row["busy_vs_passive"] = ratio(row["busy"], base["busy"])
    return {"threads": threads, "tokens": tokens, "repeats": repeats, "rows": rows}


def part_batched(gguf: Path, threads: int, calls: int, parallel: int, max_tokens: int) -> dict[str, Any]:
    """The same calls through the batched engine with 1 slot and with ``parallel`` slots."""
    from dspy.lm15 import Config, Message, Request

    from pada.agents.batched_engine import BatchedLlamaEngine

    system = (
        "You analyse why a student answered a science question wrongly. Reply with the root cause, the "
        "kind of question where this error appears, and the knowledge the student lacked."
    )
    topics = ["ice floating", "photosynthesis", "seasons", "friction", "magnets", "sound in a vacuum",
              "food chains", "the moon's phases", "evaporation", "circuits", "erosion"]  # fmt: skip
    requests = [
        Request(model="teacher", system=system,
                messages=(Message.user(f"Question about {topics[i % len(topics)]}. The student chose the "
                                       "option that repeats a common misconception. Why?"),),
                config=Config(max_tokens=max_tokens, temperature=0.7, seed=i))
        for i in range(calls)
    ]  # fmt: skip
    rows = []
    for slots in (1, parallel):
        engine = BatchedLlamaEngine(gguf, n_ctx=1024, n_threads=threads, parallel=slots, name="teacher")
        try:
            engine.complete(requests[0])  # load the model and warm the shared prefix outside the timing
            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=slots) as pool:
                outs = list(pool.map(engine.complete, requests))
            wall = time.perf_counter() - start
        finally:
            engine.close()
        out_tokens = sum(o.usage.output_tokens or 0 for o in outs)
        rows.append({"slots": slots, "calls": calls, "output_tokens": out_tokens, "wall_s": wall,
                     "tokens_per_s": out_tokens / wall, "s_per_call": wall / calls})  # fmt: skip
        rate = out_tokens / wall
        print(f"[batched] {slots} slot(s): {calls} calls in {wall:.1f} s, {rate:.1f} tok/s", flush=True)
    one, many = rows
    return {
        "rows": rows,
        "ratios": {
            "tokens_per_s": ratio(many["tokens_per_s"], one["tokens_per_s"]),
            "wall_s": ratio(many["wall_s"], one["wall_s"]),
        },
    }


def render(results: dict[str, Any]) -> str:
    """The tables as Markdown."""
    out = [f"# Teacher decode speed ({results['date']}, {results['machine']})", ""]
    if w := results.get("wait"):
        out += [f"## OpenMP waiting: one sequence, {w['tokens']} tokens, {w['threads']} threads "
                f"(median of {w['repeats']} fresh processes)", ""]  # fmt: skip
        out.append(table(
            ["setting", "idle tok/s", "busy tok/s", "idle vs passive", "busy vs passive"],
            [[r["setting"], r["idle"], r["busy"], r["idle_vs_passive"], r["busy_vs_passive"]]
             for r in w["rows"]],
        ))  # fmt: skip
        out.append("")
    if b := results.get("batched"):
        out += ["## Batched decoding: the same calls, 1 slot vs several (`teacher.backend=batched`)", ""]
        out.append(table(
            ["slots", "calls", "output tokens", "wall s", "tok/s", "s / call"],
            [[r["slots"], r["calls"], r["output_tokens"], r["wall_s"], r["tokens_per_s"], r["s_per_call"]]
             for r in b["rows"]],
        ))  # fmt: skip
        q = b["ratios"]
        out += ["", f"{b['rows'][1]['slots']} slots / 1 slot: tokens per second {q['tokens_per_s']}, "
                    f"wall time {q['wall_s']}", ""]  # fmt: skip
    out += [f"Total bench wall time: {results['wall_s']:.0f} s", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Run the parts, print their tables, save ``teacher_decode.json`` / ``.md``."""
    from pada.agents.lm import resolve_gguf
    from pada.agents.local_server import LLAMA_ENV, default_threads

    p = argparse.ArgumentParser(prog="python bench/teacher_decode.py", description=__doc__.split("\n")[0])
    p.add_argument("--parts", default="wait,batched")
    p.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench" / "teacher_decode")
    p.add_argument("--model", default="qwen2_5_coder_1_5b_instruct_gguf", help="asset name or .gguf path")
    p.add_argument("--threads", type=int, default=default_threads())
    p.add_argument("--tokens", type=int, default=64, help="tokens decoded per wait measurement")
    p.add_argument("--repeats", type=int, default=2, help="fresh processes per wait measurement")
    p.add_argument("--calls", type=int, default=12, help="calls in the batched part")
    p.add_argument("--parallel", type=int, default=4, help="slots compared with 1 in the batched part")
    p.add_argument("--max-tokens", type=int, default=64, help="answer cap per call in the batched part")
    args = p.parse_args(argv)
    parts = {x.strip() for x in args.parts.split(",") if x.strip()}
    if parts - {"wait", "batched"}:
        p.error(f"unknown part(s) {sorted(parts - {'wait', 'batched'})}; choose from wait, batched")
    WAITS["pada (short spin, then passive)"] = dict(LLAMA_ENV)
    gguf = resolve_gguf(args.model)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} CPU cores",
        "command": "python bench/teacher_decode.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    if "wait" in parts:
        results["wait"] = part_wait(gguf, args.threads, args.tokens, args.repeats)
    if "batched" in parts:
        results["batched"] = part_batched(gguf, args.threads, args.calls, args.parallel, args.max_tokens)
    results["wall_s"] = time.perf_counter() - start
    (args.out / "teacher_decode.json").write_text(json.dumps(results, indent=2))
    text = render(results)
    (args.out / "teacher_decode.md").write_text(text)
    print("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
