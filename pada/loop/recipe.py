"""The PaDA loop, written to read like the method's algorithm box.

::

    for t in 0..rounds:
        M_t = fine_tune(M0, D_train + D_aug)
        evaluate M_t on train, validation, test
        stop if t == rounds, or validation has not improved for `patience` rounds
        A   = analyze_errors(validation failures)          # the Pattern Analysis Agent
        C   = mine_patterns(A)                             # embed + k-means, K by the elbow
        P   = summarize_patterns(C);  S = draft_strategies(P)
        G   = generate(S, train exemplars) + generate(training failures)   # Data Generation Agent
        G   = gate(G)                                      # Quality Control Agent + checks
        D_aug += G

Each stage writes its artifacts into ``round_<t>/<stage>/`` and a manifest last; a stage whose
manifest exists is loaded instead of run, so a killed run resumes where it stopped. Teacher calls go
through a disk cache in the run folder, so a stage that was killed half way pays only for the calls it
had not made. Baselines and ablations are switches of ``cfg.method``.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from pada.config.validate import augments
from pada.io import read_json, read_jsonl, write_json, write_jsonl
from pada.loop.artifacts import RunFolder, Stage, attempt_id
from pada.loop.budget import TRAIN_ERROR, Quotas, path_quotas, proportional
from pada.loop.effects import (
    centroid,
    forgetting,
    nearest_items,
    outcomes_record,
    pattern_effects,
    summarize_effects,
)
from pada.loop.progress import Progress
from pada.loop.quality_gate import GateDecision, QualityGate, judge_score, passes_judge
from pada.tasks import build_task
from pada.tasks.io import read_records
from pada.tasks.schema import EvalRecord, Item, MCItem, QAItem
from pada.teacher.providers import provider_name

if TYPE_CHECKING:  # the agents (and DSPy) are imported only by runs that call the teacher
    from pada.agents.records import Analysis, Pattern, Strategy
    from pada.agents.suite import AgentSuite
    from pada.mining import MiningResult

log = logging.getLogger(__name__)

#: The teacher usage a round reports (``calls`` includes ``cache_hits``).
USAGE_KEYS = ("calls", "cache_hits", "input_tokens", "output_tokens", "wall_s", "parse_failures")


def _usage_delta(now: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    return {key: now.get(key, 0) - before.get(key, 0) for key in USAGE_KEYS}


#: What the generic control asks for, per task kind: (what to write, what to vary, what to avoid).
_GENERIC_WORDING = {
    "multiple_choice": (
        "new questions of the same kind and level as the examples, each on its own topic",
        "the topic, the difficulty and which option is correct",
        "copying or paraphrasing the examples; trick questions; more than one correct option",
    ),
    "free_form": (
        "new problems of the same kind and level as the examples, each on its own topic",
        "the situation, the quantities and the number of steps",
        "copying or paraphrasing the examples; trick problems; ambiguous answers",
    ),
}


def generic_strategy(task: str, free_form: bool = False) -> Any:
    """The strategy of the generic-synthetic control: the task itself, aimed at no failure.

    Args:
        task: The task's description.
        free_form: Word it for free-form problems (no options) rather than multiple-choice questions.
    """
    from pada.agents.records import Strategy

    write, vary, avoid = _GENERIC_WORDING["free_form" if free_form else "multiple_choice"]
    return Strategy(
        id="strategy-generic",
        pattern_id="generic",
        pattern="none (general practice items for the task, not aimed at any failure): " + task,
        what_to_write=write,
        what_to_vary=vary,
        what_to_avoid=avoid,
    )


def _items_from_dicts(rows: Sequence[dict[str, Any]]) -> list[Item]:
    """Items back from their dicts (``to_dict``), each by its ``kind``: free form, else multiple choice."""
    out: list[Item] = []
    for row in rows:
        d = dict(row)
        kind = d.pop("kind", None)
        if kind == "free_form":
            out.append(QAItem(**d))
            continue
        d["choices"] = tuple(d["choices"])
        out.append(MCItem(**d))
    return out


@contextlib.contextmanager
def open_agents(cfg: DictConfig, run_dir: Path, splits: Mapping[str, Sequence[Item]]) -> Iterator[AgentSuite]:
    """The run's agent suite, from the config, with the held-out splits kept from every generator.

    Starts the local teacher (if that is the teacher) and stops it on exit. Validation and test
    questions, and their worked solutions, are registered with the suite's prompt guard; training
    and validation solutions are remembered, since free-form failures are shown with them.
    """
    from pada.agents.suite import AgentSuite
    from pada.teacher.lm import distinct_judge

    kind = str(cfg.dataset.kind)
    with AgentSuite.open(
        cfg.teacher,
        distinct_judge(cfg.teacher, cfg.judge),
        cfg.embedder,
        cfg.pattern_mining,
        cfg.generation,
        run_dir=run_dir,
        task=build_task(cfg.dataset).description,
        seed=cfg.seed,
        judge_checks=bool(cfg.quality_gate.judge_checks),
        judge_batch=int(cfg.quality_gate.judge_batch),
        task_kind=kind,
    ) as agents:
        held_out = [i for name in ("validation", "test") for i in splits[name]]
        agents.hold_out(i.question for i in held_out)
        agents.hold_out((s for i in held_out if (s := getattr(i, "solution", None))), passages=True)
        agents.remember_solutions([*splits["train"], *splits["validation"]])
        yield agents


@dataclass
class Augmented:
    """What one round's augmentation added, and the counts that go into the round's metrics.

    Attributes:
        items: The accepted items (synthetic, or real ones for the real-data control).
        counts: ``budget``, ``k`` (patterns drawn), ``requested``, ``generated``, ``accepted``,
            ``rejected``, ``failed`` and ``rejected_by_reason``, as far as the method has them.
    """

    items: list[Item]
    counts: dict[str, Any] = field(default_factory=dict)


class PadaRecipe:
    """One run of PaDA (or a baseline / ablation) over prepared splits.

    Args:
        cfg: The composed, validated config.
        folder: The run folder.
        splits: ``train``, ``validation`` and ``test`` items.
        on_round: Called with each round's metrics as soon as they are known (tracking, summaries).
        reserve: Real items in no split, for ``method.augment_with=real`` (the real-data control).
        select_ids: The validation items that choose the round (best round, early stopping); the
            others are mined for patterns. Empty: all of validation does both.
        agents: Opens the agent suite (a context manager), called once, when a stage first needs
            the teacher (``python -m pada`` passes :func:`open_agents` on the config; tests pass
            their own). The recipe builds none of its collaborators from the config itself.
        gate: The quality gate's checks; by default built on first use against the training split,
            every synthetic item so far and the held-out splits.
    """

    def __init__(
        self,
        cfg: DictConfig,
        folder: RunFolder,
        splits: dict[str, list[Item]],
        on_round: Callable[[dict[str, Any]], None] | None = None,
        *,
        reserve: Sequence[Item] = (),
        select_ids: Collection[str] = (),
        agents: Callable[[], contextlib.AbstractContextManager[AgentSuite]],
        gate: QualityGate | None = None,
    ) -> None:
        self.cfg = cfg
        self.method = cfg.method
        self.folder = folder
        self.splits = splits
        self.reserve = list(reserve)
        self.select_ids = frozenset(select_ids)
        self.on_round = on_round or (lambda metrics: None)
        self.rounds: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self._stack = contextlib.ExitStack()
        self._open_agents = agents
        self._agents: AgentSuite | None = None
        self._gate = gate
        self._usage_mark: dict[str, Any] = {}
        self._outcomes: list[tuple[int, dict[str, list[EvalRecord]]]] = []
        self._held_out_vectors: Any = None  # select + test questions, embedded by locate_patterns

    # ------------------------------------------------------------------ the loop

    def run(self) -> list[dict[str, Any]]:
        """Run every round; return the per-round metrics."""
        last_round = self.method.rounds if augments(self.method) else 0
        synthetic: list[Item] = []
        adapter: Path | None = None
        previous: dict[str, list[EvalRecord]] | None = None
        best_val, stale = -1.0, 0
        with self._stack:
            for t in range(last_round + 1):
                adapter = self.fine_tune(t, [*self.splits["train"], *synthetic], adapter)
                records = self.evaluate(t, adapter, synthetic)
                metrics = self._round_metrics(t, records)
                self._write_outcomes(t, records)
                if previous is not None:
                    metrics.update(self._effects(t, previous, records))
                previous = records
                # The round is chosen on the select part of validation; patterns come from the rest.
                if metrics["val_select_acc"] > best_val:
                    best_val, stale = metrics["val_select_acc"], 0
                else:
                    stale += 1
                if t == last_round or stale >= self.method.patience:
                    if t < last_round:
                        self.notes.append(
                            f"stopped after round {t}: validation accuracy has not improved for "
                            f"{stale} round(s) (patience {self.method.patience})"
                        )
                    self._finish_round(metrics)
                    break
                added = self.augment(t, records, synthetic)
                metrics.update(added.counts)
                synthetic = self.merge(t, synthetic, added.items)
                self._finish_round(metrics)
        return self.rounds

    def augment(self, t: int, records: dict[str, list[EvalRecord]], synthetic: list[Item]) -> Augmented:
        """One round of augmentation: patterns from validation failures, items from both paths, the gate.

        The controls take the same budget from elsewhere: real items in no split (``augment_with=real``)
        or items written from the task description alone, through the same gate (``generic``).
        """
        budget = int(self.cfg.generation.budget)
        counts: dict[str, Any] = {"budget": budget}
        if self.method.augment_with == "real":
            added = self.add_real_items(t, synthetic, budget)
        elif self.method.augment_with == "generic":
            strategy = generic_strategy(self._task_description(), free_form=self._free_form)
            added = self.generate(t, [strategy], [1], budget, [], 0, path="generic")
        else:
            added = self.augment_targeted(t, records, synthetic, budget)
        return Augmented(added.items, {**counts, **added.counts})

    def augment_targeted(
        self,
        t: int,
        records: dict[str, list[EvalRecord]],
        synthetic: list[Item],
        budget: int,
    ) -> Augmented:
        """PaDA's and LLM2LLM's paths, each with its share of ``budget``.

        Strategies come from patterns mined in validation failures, error-correcting items from
        training failures; the counts include the number of patterns, ``k``.
        """
        val_quota, train_quota = path_quotas(
            budget,
            self.cfg.generation.val_share,
            self.method.use_val_patterns,
            self.method.use_train_errors,
        )
        counts: dict[str, Any] = {}
        strategies, weights = [], []
        if val_quota:
            analyses = self.analyze_errors(t, records["validation"])
            if self.method.cluster:
                mining = self.mine_patterns(t, analyses)
                counts["k"] = mining.k
                patterns = self.summarize_patterns(t, mining, analyses)
            else:
                patterns = self.direct_error_patterns(t, analyses, val_quota)
                counts["k"] = len(patterns)
            strategies = self.draft_strategies(t, patterns)
            weights = [max(1, len(p.member_ids)) for p in patterns]
            self.locate_patterns(t, patterns)
        train_failures = self._train_failures(records, synthetic) if train_quota else []
        added = self.generate(t, strategies, weights, val_quota, train_failures, train_quota)
        return Augmented(added.items, {**counts, **added.counts})

    # ------------------------------------------------------------------ stages: the student

    def fine_tune(self, t: int, train_items: list[Item], previous: Path | None) -> Path:
        """Fine-tune the student (from the base model, or from ``previous`` if so configured)."""
        stage = self._stage(t, "fine_tune", {
            "model": OmegaConf.to_container(self.cfg.model, resolve=True),
            "trainer": OmegaConf.to_container(self.cfg.trainer, resolve=True),
            "items": [i.id for i in train_items],
            "seed": self.cfg.seed,
            "previous": self._rel(previous) if previous and not self.cfg.trainer.restart_from_base else None,
        })  # fmt: skip
        adapter = stage.dir / "adapter"
        if stage.done:
            log.info("round %d: fine_tune already done (%s)", t, adapter)
            return adapter
        from pada.training.fine_tune import fine_tune

        log.info("round %d: fine-tuning %s on %d items", t, self.cfg.model.name, len(train_items))
        fine_tune(
            self.cfg.model, self.cfg.trainer, train_items, adapter, seed=self.cfg.seed, init_adapter=previous
        )
        stage.finish(train_items=len(train_items))
        return adapter

    def evaluate(self, t: int, adapter: Path, synthetic: list[Item]) -> dict[str, list[EvalRecord]]:
        """Score the round's model on train, validation and test (and the base model once, on validation)."""
        sets: dict[str, Sequence[Item]] = dict(self.splits)
        if self.method.augment_synthetic and synthetic:
            sets["synthetic"] = synthetic
        stage = self._stage(t, "evaluate", {
            "adapter": self._rel(adapter),
            "sets": {k: len(v) for k, v in sets.items()},
            "base": t == 0,
        })  # fmt: skip
        out = stage.dir
        if not stage.done:
            from pada.training.evaluate import evaluate_splits, load_for_eval

            batch = self.cfg.trainer.eval_batch_size
            # Free-form items: how much the student may write, and where its final answer is.
            gen = {"max_new_tokens": int(self.cfg.dataset.max_new_tokens),
                   "final_answer": str(self.cfg.dataset.final_answer)}  # fmt: skip
            if t == 0:
                base, tok = load_for_eval(self.cfg.model, None)
                acc = evaluate_splits(base, tok, {"validation": sets["validation"]}, out / "base", batch,
                                      self.cfg.model.max_length, **gen)  # fmt: skip
                log.info("base model (no fine-tuning): validation accuracy %.3f", acc["validation"])
                del base
            model, tok = load_for_eval(self.cfg.model, adapter)
            acc = evaluate_splits(model, tok, sets, out, batch, self.cfg.model.max_length, **gen)
            log.info("round %d: accuracy %s", t, {k: round(v, 3) for k, v in acc.items()})
            stage.finish(adapter=self._rel(adapter))
        return {name: read_records(out / f"{name}_records.jsonl") for name in sets}

    # ------------------------------------------------------------------ stages: the teacher

    @property
    def agents(self) -> AgentSuite:
        """The agent suite, opened (and the local teacher started) only when a stage needs it."""
        if self._agents is None:
            self._agents = self._stack.enter_context(self._open_agents())
        return self._agents

    def analyze_errors(self, t: int, val_records: list[EvalRecord]) -> list[Analysis]:
        """Pattern Analysis Agent, step 1: diagnose a seeded sample of validation failures."""
        from pada.agents.records import Analysis

        # Only the mine part of validation: the select part chooses the round and is never analysed.
        failures = sorted(
            (r for r in val_records if not r.correct and r.id not in self.select_ids), key=lambda r: r.id
        )
        limit = self.cfg.pattern_mining.max_failures
        if len(failures) > limit:
            failures = sorted(random.Random(self.cfg.seed + t).sample(failures, limit), key=lambda r: r.id)
        stage = self._stage(t, "analyze_errors", {
            "failures": [r.id for r in failures], "teacher": self._lm_settings("teacher"),
        })  # fmt: skip
        if stage.done:
            return [Analysis.from_dict(d) for d in read_jsonl(stage.dir / "analyses.jsonl")]
        analyses: list[Analysis] = []
        chunk = max(1, self.cfg.pattern_mining.analysis_batch_size) * 4
        progress = Progress(f"round {t}: analyzing validation failures", len(failures))
        for i in range(0, len(failures), chunk):
            analyses += self.agents.analyze_errors(failures[i : i + chunk])
            progress.update(min(i + chunk, len(failures)))
        write_jsonl(stage.dir / "analyses.jsonl", [a.to_dict() for a in analyses])
        self._write_failures(stage.dir)
        stage.finish(failures=len(failures))
        return analyses

    def mine_patterns(self, t: int, analyses: list[Analysis]) -> MiningResult:
        """Pattern Analysis Agent, step 2: cluster the analyses; K by the elbow."""
        from pada.agents.records import MiningResult

        stage = self._stage(t, "mine_patterns", {
            "analyses": [a.id for a in analyses],
            "pattern_mining": OmegaConf.to_container(self.cfg.pattern_mining, resolve=True),
            "embedder": self.cfg.embedder.name,
        })  # fmt: skip
        if stage.done:
            return MiningResult.from_dict(read_json(stage.dir / "mining.json"))
        mining = self.agents.mine_patterns(analyses, out_dir=stage.dir)
        write_json(stage.dir / "mining.json", mining.to_dict())
        log.info("round %d: %d clusters (K by %s)", t, mining.k, mining.method)
        stage.finish(analyses=len(analyses))
        return mining

    def summarize_patterns(self, t: int, mining: MiningResult, analyses: list[Analysis]) -> list[Pattern]:
        """Pattern Analysis Agent, step 3: name and describe each cluster's failure pattern."""
        from pada.agents.records import Pattern

        stage = self._stage(t, "summarize_patterns", {
            "clusters": [c.member_ids for c in mining.clusters], "teacher": self._lm_settings("teacher"),
        })  # fmt: skip
        if stage.done:
            return [Pattern.from_dict(d) for d in read_json(stage.dir / "patterns.json")]
        patterns = self.agents.summarize_patterns(mining, analyses)
        write_json(stage.dir / "patterns.json", [p.to_dict() for p in patterns])
        stage.finish(clusters=len(mining.clusters))
        return patterns

    def direct_error_patterns(self, t: int, analyses: list[Analysis], quota: int) -> list[Pattern]:
        """The no-clustering ablation: each sampled failure's own analysis stands in for a pattern."""
        from pada.agents.records import Pattern

        sample = sorted(random.Random(self.cfg.seed + t).sample(analyses, min(quota, len(analyses))),
                        key=lambda a: a.id)  # fmt: skip
        patterns = [
            Pattern(
                id=f"error-{i}",
                name=a.missing_knowledge[:120],
                description=f"{a.error_scenario} Cause: {a.root_cause}",
                cluster_id=i,
                member_ids=[a.id],
            )
            for i, a in enumerate(sample)
        ]
        write_json(
            self.folder.stage_dir(t, "summarize_patterns") / "patterns.json", [p.to_dict() for p in patterns]
        )
        return patterns

    def draft_strategies(self, t: int, patterns: list[Pattern]) -> list[Strategy]:
        """Draft one data-augmentation strategy per pattern."""
        from pada.agents.records import Strategy

        stage = self._stage(t, "draft_strategies", {
            "patterns": [p.to_dict() for p in patterns], "teacher": self._lm_settings("teacher"),
        })  # fmt: skip
        if stage.done:
            return [Strategy.from_dict(d) for d in read_json(stage.dir / "strategies.json")]
        strategies = self.agents.draft_strategies(patterns)
        write_json(stage.dir / "strategies.json", [s.to_dict() for s in strategies])
        rows = [
            {"pattern": p.name, "description": p.description, "size": len(p.member_ids), "strategy": s.text()}
            for p, s in zip(patterns, strategies, strict=True)
        ]
        write_json(stage.dir / "patterns_with_strategies.json", rows)
        stage.finish(patterns=len(patterns))
        return strategies

    def generate(
        self,
        t: int,
        strategies: list[Strategy],
        weights: list[int],
        val_quota: int,
        train_failures: list[EvalRecord],
        train_quota: int,
        path: str = "pattern",
    ) -> Augmented:
        """Data Generation Agent + Quality Control Agent, until each path's quota of accepted items is met.

        Rejected items are regenerated: each attempt asks only for what is still missing, with fresh
        rollouts, up to ``generation.max_attempts`` attempts. On the training-error path an attempt takes
        failures not yet asked first, then those whose item was rejected (asked again, new rollouts), then,
        when there are fewer failures than missing items, those whose item was accepted (a second item).
        ``path`` names the strategies' path (``generic`` for the untargeted control).
        """
        settings = {
            "strategies": [s.to_dict() for s in strategies],
            "weights": weights,
            "quotas": [val_quota, train_quota],
            "train_failures": [r.id for r in train_failures],
            "generation": OmegaConf.to_container(self.cfg.generation, resolve=True),
            "quality_gate": OmegaConf.to_container(self.cfg.quality_gate, resolve=True),
            "gate_on": bool(self.method.quality_gate),
            "teacher": self._lm_settings("teacher"),
            "judge": self._lm_settings("judge"),
        }
        if path != "pattern":
            settings["path"] = path
        stage = self._stage(t, "generate", settings)
        if not stage.done:
            samples, stats = self._generate_and_gate(
                t, strategies, weights, val_quota, train_failures, train_quota, path
            )
            self._write_generated(stage.dir, samples, stats)
            stage.finish(strategies=len(strategies))
        return self._generated(stage.dir)

    def add_real_items(self, t: int, synthetic: list[Item], budget: int) -> Augmented:
        """The real-data control: the next ``budget`` items of the reserve (real items in no split)."""
        used = {i.id for i in synthetic}
        fresh = [i for i in self.reserve if i.id not in used and i.kind == self._kind]
        chosen = fresh[:budget]
        stage = self._stage(t, "generate", {"real_items": [i.id for i in chosen], "budget": budget})
        if not stage.done:
            notes = []
            if len(chosen) < budget:
                notes.append(
                    f"round {t}: the reserve had {len(chosen)} unused real items for a budget of {budget}"
                )
            samples = [
                {"id": i.id, "path": "real", "origin": i.id, "target": None, "attempt": 0,
                 "item": i.to_dict(), "rationale": "", "verdict": None, "accepted": True, "reasons": []}
                for i in chosen
            ]  # fmt: skip
            stats = {"requested": budget, "quota": {"real": budget}, "accepted": {"real": len(chosen)},
                     "notes": notes}  # fmt: skip
            self._write_generated(stage.dir, samples, stats)
            stage.finish(reserve=len(self.reserve))
        return self._generated(stage.dir)

    @staticmethod
    def _write_generated(out: Path, samples: list[dict[str, Any]], stats: dict[str, Any]) -> None:
        write_json(out / "stats.json", stats)
        write_jsonl(out / "samples.jsonl", samples)
        write_jsonl(out / "accepted.jsonl", [s["item"] for s in samples if s["accepted"]])

    def _generated(self, out: Path) -> Augmented:
        """Read a generate stage's samples back: the accepted items and their counts."""
        samples = read_jsonl(out / "samples.jsonl")
        stats = read_json(out / "stats.json")
        self.notes += stats["notes"]
        reasons: dict[str, int] = {}
        for s in samples:
            for kind in {r.split(":", 1)[0] for r in s["reasons"]}:
                reasons[kind] = reasons.get(kind, 0) + 1
        counts = {
            "requested": stats["requested"],
            "generated": len(samples),
            "accepted": sum(s["accepted"] for s in samples),
            "rejected": sum(not s["accepted"] for s in samples),
            "failed": stats["requested"] - len(samples),
            "rejected_by_reason": reasons,
        }
        return Augmented(_items_from_dicts([s["item"] for s in samples if s["accepted"]]), counts)

    def _generate_and_gate(
        self,
        t: int,
        strategies: list[Strategy],
        weights: list[int],
        val_quota: int,
        train_failures: list[EvalRecord],
        train_quota: int,
        path: str = "pattern",
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The generate stage's attempts: write what each path still lacks, gate it, until all are full.

        Each attempt is the two steps of ``augment``: :meth:`_write_attempt` (the Data Generation
        Agent), then :meth:`_gate_attempt` (the Quality Control Agent and checks). They alternate
        because the gate's yield in one attempt sizes the next (:func:`pada.loop.budget.items_to_ask`).
        """
        quotas = Quotas({path: val_quota if strategies else 0, TRAIN_ERROR: train_quota}, train_failures)
        exemplars = self._exemplars(t)
        progress = Progress(f"round {t}: accepted synthetic items", sum(quotas.quota.values()))
        samples: list[dict[str, Any]] = []
        attempts = int(self.cfg.generation.max_attempts)
        for attempt in range(attempts):
            batch = self._write_attempt(attempt, quotas, strategies, weights, exemplars, path)
            if not batch:
                break
            decisions, verdicts = self._gate_attempt(batch, quotas.missing())
            for g, d in zip(batch, decisions, strict=True):
                if d.accepted and quotas.filled(g.path):
                    d = GateDecision(d.item_id, False, ["budget: the path's quota was already filled"])
                if d.accepted:
                    quotas.accept(g.path, g.origin)
                samples.append(self._sample_row(g, d, verdicts.get(g.id), attempt))
            quotas.end_attempt()  # failures whose item was rejected are asked again
            progress.update(sum(quotas.accepted.values()))
            if quotas.full:
                break
        failures = self.agents.failures
        write_jsonl(
            self.folder.stage_dir(t, "generate") / "agent_failures.jsonl", [f.to_dict() for f in failures]
        )
        stats = {
            "requested": quotas.requested,
            "quota": quotas.quota,
            "accepted": quotas.accepted,
            "notes": quotas.shortfalls(t, attempts),
        }
        return samples, stats

    def _write_attempt(
        self,
        attempt: int,
        quotas: Quotas,
        strategies: list[Strategy],
        weights: list[int],
        exemplars: list[Item],
        path: str,
    ) -> list[Any]:
        """Data Generation Agent, one attempt: the items each path is asked for.

        Each strategy gets its weight's share of what its path asks; training failures go several to
        a call, one item each. Strategies and chunks of failures are independent, so their calls run
        side by side.
        """
        agents = self.agents
        tasks: list[Callable[[], list[Any]]] = []
        for strategy, n in zip(strategies, proportional(quotas.ask(path), weights), strict=True):
            if n:
                # A fresh id per attempt gives fresh rollouts: regenerating asks for new items.
                tagged = replace(strategy, id=attempt_id(strategy.id, attempt))
                tasks.append(lambda s=tagged, n=n: agents.generate_from_strategy(s, exemplars, n, path))
        seeds = quotas.next_failures()
        per_call = max(1, int(self.cfg.generation.items_per_call))
        for i in range(0, len(seeds), per_call):
            tasks.append(lambda chunk=seeds[i : i + per_call]: agents.generate_from_train_errors(chunk))
        return agents.in_parallel(tasks)

    def _gate_attempt(
        self, batch: list[Any], need: dict[str, int]
    ) -> tuple[list[GateDecision], dict[str, Any]]:
        """Quality Control Agent + checks on one attempt's items: a decision per item, in order.

        Only items that pass the cheap checks are judged, and only until each path has what it
        ``need`` says (an item left unjudged for that is rejected as over budget); without the gate
        (``method.quality_gate: false``) only the checks that need no judge run.
        """
        items = [g.item for g in batch]
        if not self.method.quality_gate:
            return self.gate.check(items, None), {}
        screened = self.gate.prescreen(items)
        to_judge = [g for g, reasons in zip(batch, screened, strict=True) if not reasons]
        verdicts = self._judge_until_full(to_judge, need)
        scores = {i: (judge_score(v), v.reasons) for i, v in verdicts.items()}
        unjudged = {g.id for g in to_judge} - verdicts.keys()
        decisions = [
            GateDecision(d.item_id, False, ["budget: the path's quota was filled before it was judged"])
            if g.id in unjudged
            else d
            for g, d in zip(batch, self.gate.check(items, scores), strict=True)
        ]
        return decisions, verdicts

    def _judge_until_full(self, to_judge: list[Any], need: dict[str, int]) -> dict[str, Any]:
        """Judge in waves, two items per judge slot, until each path has enough items that passed.

        A path's remaining items are not judged once what it still needs has passed the judge: asking
        for more items than are missing (:func:`pada.loop.budget.items_to_ask`) costs no judge call
        for the surplus.
        """
        width = 2 * max(1, int(self.cfg.judge.concurrency))
        threshold = float(self.cfg.quality_gate.judge_threshold)
        verdicts: dict[str, Any] = {}
        passed = dict.fromkeys(need, 0)
        pending = list(to_judge)
        while pending:
            wave: list[Any] = []
            for g in pending:
                if len(wave) < width and passed[g.path] + sum(w.path == g.path for w in wave) < need[g.path]:
                    wave.append(g)
            if not wave:
                break
            for v in self.agents.judge(wave):
                verdicts[v.item_id] = v
            for g in wave:
                passed[g.path] += passes_judge(judge_score(verdicts[g.id]), threshold)
            pending = [g for g in pending if g.id not in verdicts]
        return verdicts

    @staticmethod
    def _sample_row(g: Any, decision: GateDecision, verdict: Any, attempt: int) -> dict[str, Any]:
        item = g.item.to_dict()
        item["meta"] = {**item.get("meta", {}), "verdict": verdict.to_dict() if verdict else None}
        return {
            "id": g.id,
            "path": g.path,
            "origin": g.origin,
            "target": g.target,
            "attempt": attempt,
            "item": item,
            "rationale": g.rationale,
            "verdict": verdict.to_dict() if verdict else None,
            "accepted": decision.accepted,
            "reasons": decision.reasons,
        }

    @property
    def gate(self) -> QualityGate:
        """The non-LLM checks, against the training split and every synthetic item so far."""
        if self._gate is None:
            known = [*self.splits["train"], *self._all_synthetic()]
            protected = [*self.splits["validation"], *self.splits["test"]]
            embed = self.agents.embedder.encode
            self._gate = QualityGate(self.cfg.quality_gate, embed, known, protected)
        return self._gate

    def locate_patterns(self, t: int, patterns: list[Pattern]) -> dict[str, Any]:
        """Find each pattern's nearest ``select`` and test items, before any item is written for it.

        Nearest: by cosine between an item's question and the centroid of the pattern's failed
        questions (the run's embedder); ``pattern_mining.near_k`` of each. Read back in round
        ``t + 1`` by :func:`pada.loop.effects.pattern_effects`.
        """
        k = int(self.cfg.pattern_mining.near_k)
        stage = self._stage(t, "locate_patterns", {
            "patterns": [[p.id, p.member_ids] for p in patterns], "k": k, "embedder": self.cfg.embedder.name,
        })  # fmt: skip
        if stage.done:
            return read_json(stage.dir / "near.json")
        validation = {i.id: i for i in self.splits["validation"]}
        select = [i for i in self.splits["validation"] if not self.select_ids or i.id in self.select_ids]
        test = list(self.splits["test"])
        encode = self.agents.embedder.encode
        # The held-out questions are the same every round: embedded once per run.
        if self._held_out_vectors is None:
            self._held_out_vectors = encode([i.question for i in [*select, *test]])
        select_vecs, test_vecs = self._held_out_vectors[: len(select)], self._held_out_vectors[len(select) :]
        near: dict[str, Any] = {}
        for p in patterns:
            own = [m for m in p.member_ids if m in validation]
            if not own:
                continue
            c = centroid(encode([validation[m].question for m in own]))
            # Without a select part, validation's nearest items must not be the failures themselves.
            candidates = [j for j, i in enumerate(select) if i.id not in own]
            near[p.id] = {
                "name": p.name,
                "own": own,
                "select": nearest_items(c, select_vecs[candidates], [select[j].id for j in candidates], k),
                "test": nearest_items(c, test_vecs, [i.id for i in test], k),
            }
        write_json(stage.dir / "near.json", near)
        stage.finish(patterns=len(patterns))
        return near

    def _effects(
        self,
        t: int,
        before: dict[str, list[EvalRecord]],
        after: dict[str, list[EvalRecord]],
    ) -> dict[str, Any]:
        """Round ``t``'s forgetting against round ``t - 1``, and the effects on ``t - 1``'s patterns."""
        out: dict[str, Any] = {"forgetting": forgetting(before["test"], after["test"])}
        near = self.folder.root / f"round_{t - 1}" / "locate_patterns" / "near.json"
        if near.exists():
            effects = pattern_effects(read_json(near), t - 1, before, after)
            out["pattern_effects"] = effects
            out["pattern_fix"] = summarize_effects(effects)
        return out

    def _write_outcomes(self, t: int, records: dict[str, list[EvalRecord]]) -> None:
        # Each round's right / wrong per test and validation item, for paired statistics (pada.report).
        self._outcomes = [(r, recs) for r, recs in self._outcomes if r != t] + [(t, records)]
        write_json(self.folder.root / "outcomes.json", outcomes_record(self._outcomes))

    def merge(self, t: int, synthetic: list[Item], new_items: list[Item]) -> list[Item]:
        """D_aug += accepted items; the cumulative set is written for the next round and the export."""
        merged = [*synthetic, *new_items]
        write_jsonl(self.folder.stage_dir(t, "merge") / "augmented.jsonl", [i.to_dict() for i in merged])
        return merged

    # ------------------------------------------------------------------ helpers

    def _rel(self, path: Path) -> str:
        # Settings name paths relative to the run folder, which moves when a run is resumed.
        try:
            return str(path.relative_to(self.folder.root))
        except ValueError:
            return str(path)

    def _all_synthetic(self) -> list[Item]:
        items: list[Item] = []
        for path in sorted(self.folder.root.glob("round_*/generate/accepted.jsonl")):
            items += _items_from_dicts(read_jsonl(path))
        return items

    def _train_failures(
        self, records: dict[str, list[EvalRecord]], synthetic: list[Item]
    ) -> list[EvalRecord]:
        # LLM2LLM never re-augments synthetic items; PaDA may (method.augment_synthetic).
        failed = [r for r in records["train"] if not r.correct]
        if self.method.augment_synthetic:
            failed += [replace(r, split="train") for r in records.get("synthetic", []) if not r.correct]
            if self._free_form:
                self.agents.remember_solutions(synthetic)
        random.Random(self.cfg.seed).shuffle(failed)
        return failed[: self.cfg.generation.max_train_errors]

    def _exemplars(self, t: int) -> list[Item]:
        # Training items of the task's kind (free-form exemplars carry their worked solutions).
        train = [i for i in self.splits["train"] if i.kind == self._kind]
        k = min(self.cfg.generation.exemplars, len(train))
        return random.Random(self.cfg.seed * 1000 + t).sample(train, k)

    def _write_failures(self, out: Path) -> None:
        write_jsonl(out / "agent_failures.jsonl", [f.to_dict() for f in self.agents.failures])

    @property
    def _kind(self) -> str:
        return str(OmegaConf.select(self.cfg, "dataset.kind", default="multiple_choice"))

    @property
    def _free_form(self) -> bool:
        return self._kind == "free_form"

    def _task_description(self) -> str:
        return build_task(self.cfg.dataset).description

    def _lm_settings(self, role: str) -> dict[str, Any]:
        # The provider by name (not its class path): run folders from before providers were classes
        # keep their settings hash, so they resume without paying the teacher again.
        lm = OmegaConf.to_container(self.cfg[role], resolve=True)
        settings = {k: lm[k] for k in ("model", "api_base", "temperature", "max_tokens")}
        return {"provider": provider_name(lm), **settings}

    def teacher_usage(self) -> dict[str, Any]:
        """Return the teacher and judge usage of this process so far (``calls`` includes ``cache_hits``)."""
        return self._usage_snapshot()

    def _usage_snapshot(self) -> dict[str, Any]:
        return self._agents.usage.to_dict()["total"] if self._agents is not None else {}

    def _round_metrics(self, t: int, records: dict[str, list[EvalRecord]]) -> dict[str, Any]:
        def acc(name: str) -> float:
            rs = records.get(name, [])
            return sum(r.correct for r in rs) / len(rs) if rs else 0.0

        def part(mine: bool) -> float:
            rs = [r for r in records["validation"] if (r.id not in self.select_ids) == mine]
            return sum(r.correct for r in rs) / len(rs) if rs else 0.0

        split = bool(self.select_ids)
        metrics: dict[str, Any] = {
            "round": t,
            "train_acc": acc("train"),
            "val_acc": acc("validation"),
            # Patterns are mined on one part of validation, the round is chosen on the other.
            "val_mine_acc": part(mine=True) if split else acc("validation"),
            "val_select_acc": part(mine=False) if split else acc("validation"),
            "test_acc": acc("test"),
            "val_failures": sum(not r.correct and r.id not in self.select_ids for r in records["validation"]),
            "train_failures": sum(not r.correct for r in records["train"]),
            "generated": 0,
            "accepted": 0,
            "rejected_by_reason": {},
        }
        metrics["gap"] = metrics["train_acc"] - metrics["val_acc"]
        if t == 0:
            base = self.folder.stage_dir(0, "evaluate") / "base" / "accuracy.json"
            if base.exists():
                metrics["base_val_acc"] = read_json(base)["validation"]
        return metrics

    def _stage(self, t: int, name: str, settings: dict[str, Any]) -> Stage:
        return self.folder.stage(t, name, settings, self._usage_since_last_stage)

    def _usage_since_last_stage(self) -> dict[str, Any]:
        # Stages run one after another, so the teacher usage since the last stage finished is this
        # stage's; its manifest keeps it, and a resumed run sums the manifests (see _finish_round).
        now = self._usage_snapshot()
        teacher = _usage_delta(now, self._usage_mark)
        self._usage_mark = now
        return teacher

    def _finish_round(self, metrics: dict[str, Any]) -> None:
        # The round's teacher usage is that of its stages, whichever attempt ran them: a resumed run
        # reports what the whole run cost (its own attempt's share is in final["attempt"]).
        teacher = self.folder.stage_teacher(metrics["round"])
        now = self._usage_snapshot()
        for key, value in _usage_delta(now, self._usage_mark).items():  # outside any stage
            teacher[key] = teacher.get(key, 0) + value
        self._usage_mark = now
        metrics["teacher"] = {key: teacher.get(key, 0) for key in USAGE_KEYS}
        metrics["teacher"]["wall_s"] = round(metrics["teacher"]["wall_s"], 1)
        metrics["stage_seconds"] = self.folder.stage_seconds(metrics["round"])
        self.rounds.append(metrics)
        if self._agents is not None:
            write_json(self.folder.root / "teacher_usage.json", self._agents.usage.to_dict())
        self.on_round(metrics)
