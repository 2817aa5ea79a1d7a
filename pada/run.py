"""One pada job: validate the config, find or make the run folder, prepare data, run the method, report.

This is the body behind ``python -m pada``. It knows the order of the work, not its details: the loop
is :class:`pada.loop.recipe.PadaRecipe`; tracking is :class:`pada.tracking.Tracker`.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from pada.config import validate
from pada.data import prepare_splits
from pada.errors import PadaError
from pada.io import read_jsonl, write_json
from pada.loop.artifacts import RESUMED_MARKER, RunFolder, find_resumable, stable_hash
from pada.loop.export import export_run
from pada.loop.leakage import check_augmented
from pada.loop.summary import final_metrics, write_metrics, write_summary
from pada.provenance import runtime_record
from pada.tasks.splits import Splits
from pada.teacher.providers import provider_name

log = logging.getLogger("pada")

#: Keys that do not change what a run computes, so they do not stop a resume.
_NOT_RUN_DEFINING = ("resume", "dry_run", "logger")
LOCK = ".run.lock"


def config_hash(cfg: DictConfig) -> str:
    """The hash that identifies "the same run" for resuming."""
    data = OmegaConf.to_container(cfg, resolve=True)
    for key in _NOT_RUN_DEFINING:
        data.pop(key, None)
    return stable_hash(data)


def _hydra_dirs() -> tuple[Path, Path]:
    hc = HydraConfig.get()
    out = Path(hc.runtime.output_dir)
    # Earlier attempts of this run live beside this one: other timestamps of the same experiment.
    search = Path(hc.sweep.dir).parent if hc.mode == RunMode.MULTIRUN else out.parent
    return out, search


def _adopt(old: Path, new: Path) -> None:
    """Move an unfinished run's work into the new run folder, leaving a pointer behind."""
    for entry in old.iterdir():
        if entry.name in (".hydra", "pada.log", LOCK) or entry.name.endswith(".log"):
            continue
        target = new / entry.name
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        shutil.move(str(entry), str(target))
    (old / RESUMED_MARKER).write_text(f"This run was resumed in {new}\n")


def _resolve_run_folder(cfg: DictConfig, chash: str) -> tuple[Path, str | None]:
    out, search = _hydra_dirs()
    previous = Path(cfg.resume) if cfg.resume else find_resumable(search, chash, exclude=out)
    if cfg.resume and not (previous / "run_state.json").exists():
        raise PadaError(f"resume={cfg.resume}: not a pada run folder (no run_state.json there)")
    if previous is None or previous.resolve() == out.resolve():
        return out, None
    try:
        with FileLock(str(previous / LOCK), timeout=0):
            _adopt(previous, out)
    except Timeout as err:
        raise PadaError(f"run {previous} is in use by another pada process; not resuming it") from err
    return out, str(previous)


def run(cfg: DictConfig) -> float | None:
    """Run the job described by ``cfg``; return the best validation accuracy (what sweeps optimize)."""
    validate(cfg)
    chash = config_hash(cfg)
    out, resumed_from = _resolve_run_folder(cfg, chash)
    with FileLock(str(out / LOCK)):
        return _run_in(cfg, out, chash, resumed_from)


def _run_in(cfg: DictConfig, out: Path, chash: str, resumed_from: str | None) -> float | None:
    from pada.loop.recipe import PadaRecipe, open_agents
    from pada.tracking import Tracker

    folder = RunFolder(out)
    if resumed_from:
        log.info("resuming the unfinished run from %s (same config) in %s", resumed_from, out)
    attempts = folder.state().get("attempts", 0) + 1
    # What an earlier attempt left finished (and this one will reuse, where its settings still match).
    finished_before = len(list(out.glob("round_*/*/manifest.json")))
    folder.set_state(config_hash=chash, status="running", attempts=attempts, resumed_from=resumed_from)
    OmegaConf.save(cfg, out / "config.yaml", resolve=True)
    splits = prepare_splits(cfg.dataset, out, cfg.model.max_length)
    header = {
        "experiment": cfg.experiment_name,
        "method": cfg.method.name,
        "seed": cfg.seed,
        "status": "running",
        "config_overrides": list(HydraConfig.get().overrides.task),
        "run_dir": str(out),
        "skipped_items": splits.params.get("skipped_items", 0),
    }
    _print_plan(cfg, splits, out)
    if cfg.dry_run:
        folder.set_state(status="planned")
        return None
    # Versions, CPU/GPU and llama.cpp build (pada.provenance); after the dry-run exit, as it imports torch.
    header["runtime"] = runtime_record()

    start = time.perf_counter() - folder.state().get("wall_s", 0.0)
    job = HydraConfig.get().job
    # The logger group names the tracker class; not recursive, so the config it logs stays a config.
    job_name = f"{cfg.experiment_name}-{cfg.method.name}-s{cfg.seed}"
    tracker: Tracker = instantiate(
        cfg.logger,
        run_dir=out,
        run_config=cfg,
        job_name=job_name,
        group=cfg.experiment_name,
        _recursive_=False,
    )
    with tracker:
        parts = splits.as_dict()
        recipe = PadaRecipe(
            cfg,
            folder,
            parts,
            reserve=splits.reserve,
            select_ids=splits.select,
            agents=lambda: open_agents(cfg, folder.root, parts),  # opened when a stage needs the teacher
        )
        rounds_so_far: list[dict[str, Any]] = []

        def on_round(metrics: dict[str, Any]) -> None:
            rounds_so_far.append(metrics)
            wall = time.perf_counter() - start
            folder.set_state(wall_s=wall)
            final = final_metrics(rounds_so_far, wall)
            write_metrics(out / "metrics.json", header, rounds_so_far, final)
            write_summary(out / "summary.md", header, rounds_so_far, final, recipe.notes)
            tracker.log_round(metrics)
            _log_round_artifacts(tracker, out, metrics)

        recipe.on_round = on_round
        try:
            rounds = recipe.run()
        except BaseException:
            header["status"] = "failed"
            folder.set_state(status="failed")
            if rounds_so_far:
                final = final_metrics(rounds_so_far, time.perf_counter() - start)
                write_metrics(out / "metrics.json", header, rounds_so_far, final)
            raise
        wall = time.perf_counter() - start
        final = final_metrics(rounds, wall)
        usage = recipe.teacher_usage()
        final["attempt"] = {
            "number": attempts,
            "resumed_from": resumed_from,
            "teacher_calls_paid": usage.get("calls", 0) - usage.get("cache_hits", 0),
            "teacher_cache_hits": usage.get("cache_hits", 0),
            "stages_finished_before": finished_before,
        }
        exported = export_run(cfg, out, final["best_round"])
        # The gate checked each item; this checks the outcome. A leak is recorded loudly, not fatal:
        # the data and models exist, and a person should see them to judge the leak.
        held_out = {"validation": splits.validation, "test": splits.test}
        leakage = check_augmented(Path(exported["dataset"]), held_out, cfg.quality_gate.decontam_ngram, out)
        final["leaked_items"] = len(leakage.leaks)
        header["status"] = "finished"
        write_metrics(out / "metrics.json", header, rounds, final)
        write_summary(out / "summary.md", header, rounds, final, recipe.notes, leakage)
        folder.set_state(status="finished", wall_s=wall)
        tracker.plot_accuracy(rounds)
        tracker.log_summary(final)
        tracker.log_artifact(f"augmented-{job.num if job.get('num') is not None else 0}", "dataset",
                             [exported["dataset"]])  # fmt: skip
        tracker.log_artifact("adapter", "model", [exported["adapter"]])
    print(f"\npada: finished. Summary: {out / 'summary.md'}")
    if not leakage.clean:
        print(f"pada: WARNING: {len(leakage.leaks)} augmented training item(s) repeat validation/test "
              f"text; see {out / 'leakage.json'}")  # fmt: skip
    print(json.dumps(final, indent=2))
    return final["val_acc"]


def _log_round_artifacts(tracker: Any, out: Path, metrics: dict[str, Any]) -> None:
    t = metrics["round"]
    rdir = RunFolder(out).round_dir(t)
    elbow = rdir / "mine_patterns" / "elbow.png"
    if elbow.exists():
        tracker.log_image("elbow", elbow, round=t)
    pws = rdir / "draft_strategies" / "patterns_with_strategies.json"
    if pws.exists():
        rows = json.loads(pws.read_text())
        tracker.log_table("patterns", rows, round=t)
        tracker.plot_cluster_sizes(rows, round=t)
    samples = rdir / "generate" / "samples.jsonl"
    if samples.exists():
        rows = [
            {
                "id": s["id"],
                "path": s["path"],
                "question": s["item"]["question"],
                # A free-form item has no options, and its answer is the reference text itself.
                "choices": " | ".join(s["item"].get("choices", ())),
                "answer": s["item"]["answer"]
                if s["item"].get("kind") == "free_form"
                else "ABCDEFGH"[s["item"]["answer"]],
                "accepted": s["accepted"],
                "reasons": "; ".join(s["reasons"]),
            }
            for s in read_jsonl(samples)
        ]
        tracker.log_table("samples", rows, round=t)
    if metrics.get("pattern_effects"):
        tracker.log_table("pattern_effects", metrics["pattern_effects"], round=t)
    if metrics.get("rejected_by_reason"):
        tracker.plot_rejections(metrics["rejected_by_reason"], round=t)


def _print_plan(cfg: DictConfig, splits: Splits, out: Path) -> None:
    from pada.training.models import build_student  # lazy: it imports torch

    plan = {
        "experiment": cfg.experiment_name,
        "method": cfg.method.name,
        "student": f"{cfg.model.name} ({build_student(cfg.model).describe()})",
        "teacher": f"{provider_name(cfg.teacher)}: {cfg.teacher.model}",
        "judge": f"{provider_name(cfg.judge)}: {cfg.judge.model}",
        "embedder": cfg.embedder.name,
        "splits": {name: len(items) for name, items in splits.as_dict().items()},
        "validation parts": splits.params.get("validation_parts", "not split: all of it mines and selects"),
        "reserve (real items in no split)": len(splits.reserve),
        "rounds": cfg.method.rounds,
        "synthetic budget per round": cfg.generation.budget,
        "run folder": str(out),
    }
    write_json(out / "plan.json", plan)
    print(json.dumps(plan, indent=2))
