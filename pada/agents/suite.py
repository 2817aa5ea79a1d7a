"""The agents' facade: the calls the PaDA loop makes, each named for a step of the method.

::

    with AgentSuite.open(cfg.teacher, cfg.judge, cfg.embedder, cfg.pattern_mining, cfg.generation,
                         run_dir=run_dir, task=TASK, seed=cfg.seed) as agents:
        agents.hold_out(validation_and_test_questions)
        analyses   = agents.analyze_errors(val_failures)
        mining     = agents.mine_patterns(analyses, out_dir=run_dir / "round_1")
        patterns   = agents.summarize_patterns(mining, analyses)
        strategies = agents.draft_strategies(patterns)
        items      = agents.generate_from_strategy(strategies[0], train_exemplars, n=8)
        items     += agents.generate_from_train_error(train_failure, n=1)
        verdicts   = agents.judge(items)

Nothing here raises on a bad answer: what could not be parsed after the bounded retries is recorded in
:attr:`AgentSuite.failures` and counted in :attr:`AgentSuite.usage`. Only a spent budget
(:class:`~pada.teacher.usage.TeacherBudgetExceeded`) or an unusable LM
(:class:`~pada.teacher.runner.TeacherUnavailable`) stops the run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from hydra.utils import instantiate

from pada.agents.analysis import ErrorAnalyst
from pada.agents.context import FREE_FORM, MULTIPLE_CHOICE, AgentContext
from pada.agents.generation import Generator
from pada.agents.judging import Judge
from pada.agents.leakage import HeldOutGuard
from pada.agents.patterns import PatternWriter
from pada.agents.records import (
    AgentFailure,
    Analysis,
    GeneratedItem,
    MiningResult,
    Pattern,
    Strategy,
    Verdict,
)
from pada.config.schema import GenerationConfig, PatternMiningConfig, typed
from pada.mining.kmeans import mine_patterns
from pada.tasks import DEFAULT_DESCRIPTIONS
from pada.tasks.schema import EvalRecord, Item
from pada.teacher.lm import LMHandle, open_lms
from pada.teacher.runner import AgentRunner
from pada.teacher.usage import UsageMeter

T = TypeVar("T")


class AgentSuite:
    """PaDA's teacher-side agents over one teacher, one judge and one embedder.

    Args:
        teacher: The teacher LM (analysis, patterns, strategies, generation).
        judge: The judge LM (quality control); ``None``: the teacher.
        embedder: Turns analysis texts into vectors (an :class:`Embedder` or any callable
            ``texts -> array``); needed only by :meth:`mine_patterns`.
        pattern_mining: The ``pattern_mining`` config (batch size, K range...); defaults if ``None``.
        generation: The ``generation`` config (``items_per_call``, ``max_attempts``); defaults if ``None``.
        task: One sentence describing the task, given to every agent (``None``: a default for the kind).
        seed: Seeds rollout ids and sub-sampling.
        keep_prompts: Keep every prompt sent (see :attr:`prompts`).
        guard_ngram: n of the word n-grams that detect held-out text in patterns and strategies.
        judge_checks: The judge also writes a verdict on each item (``quality_gate.judge_checks``);
            by default it only scores the options blind.
        judge_batch: Items the judge scores per call (``quality_gate.judge_batch``).
        task_kind: ``multiple_choice`` or ``free_form`` (``dataset.kind``): what the strategy path
            writes. Failures are analysed, and training failures augmented, by their own kind; the
            judge judges each item by its kind.
    """

    def __init__(
        self,
        teacher: LMHandle,
        judge: LMHandle | None = None,
        embedder: Any = None,
        pattern_mining: PatternMiningConfig | None = None,
        generation: GenerationConfig | None = None,
        task: str | None = None,
        seed: int = 0,
        keep_prompts: bool = False,
        guard_ngram: int = 6,
        judge_checks: bool = False,
        judge_batch: int = 1,
        task_kind: str = MULTIPLE_CHOICE,
    ) -> None:
        if task_kind not in (MULTIPLE_CHOICE, FREE_FORM):
            raise ValueError(f"task_kind must be {MULTIPLE_CHOICE} or {FREE_FORM}, got {task_kind!r}")
        if task is None:
            task = DEFAULT_DESCRIPTIONS[task_kind]
        usage = UsageMeter({"teacher": teacher.budget, **({"judge": judge.budget} if judge else {})})
        teacher_runner = AgentRunner(teacher, usage, seed=seed, keep_prompts=keep_prompts)
        judge_runner = (
            AgentRunner(judge, usage, seed=seed, keep_prompts=keep_prompts) if judge else teacher_runner
        )
        self.ctx = AgentContext(
            teacher_runner, judge_runner, usage, HeldOutGuard(n=guard_ngram), task, seed, kind=task_kind
        )
        self.embedder = embedder
        self.pattern_mining = typed(PatternMiningConfig, pattern_mining)
        self._analyst = ErrorAnalyst(self.ctx, self.pattern_mining)
        self._patterns = PatternWriter(self.ctx)
        self._generator = Generator(self.ctx, generation)
        self._judge = Judge(self.ctx, checks=judge_checks, batch=judge_batch)

    @classmethod
    @contextlib.contextmanager
    def open(
        cls,
        teacher_cfg: Any,
        judge_cfg: Any = None,
        embedder_cfg: Any = None,
        pattern_mining: Any = None,
        generation: Any = None,
        run_dir: str | Path | None = None,
        task: str | None = None,
        seed: int = 0,
        keep_prompts: bool = False,
        judge_checks: bool = False,
        judge_batch: int = 1,
        task_kind: str = MULTIPLE_CHOICE,
    ) -> Iterator[AgentSuite]:
        """Build the suite from configs; start (and finally stop) the local teacher if there is one.

        Args:
            teacher_cfg: The ``teacher`` config.
            judge_cfg: The ``judge`` config (``None``: the teacher judges, on the same LM).
            embedder_cfg: The ``embedder`` config (``None``: no pattern mining).
            pattern_mining: The ``pattern_mining`` config.
            generation: The ``generation`` config.
            run_dir: The run folder (DSPy cache in ``teacher_cache/``, server log).
            task: One sentence describing the task (``None``: a default for the kind).
            seed: The run's seed.
            keep_prompts: Keep every prompt sent.
            judge_checks: The judge also writes a verdict per item.
            judge_batch: Items the judge scores per call.
            task_kind: ``multiple_choice`` or ``free_form``.

        Yields:
            The suite.
        """
        with open_lms(teacher_cfg, judge_cfg, run_dir) as lms:
            yield cls(
                lms.teacher,
                lms.judge if judge_cfg is not None else None,
                embedder=instantiate(embedder_cfg) if embedder_cfg is not None else None,
                pattern_mining=pattern_mining,
                generation=generation,
                task=task,
                seed=seed,
                keep_prompts=keep_prompts,
                judge_checks=judge_checks,
                judge_batch=judge_batch,
                task_kind=task_kind,
            )

    # ------------------------------------------------------------------ bookkeeping

    @property
    def usage(self) -> UsageMeter:
        """Per-agent calls, tokens, cache hits, wall time, parse failures."""
        return self.ctx.usage

    @property
    def failures(self) -> list[AgentFailure]:
        """Units of work given up on after their bounded retries."""
        return self.ctx.failures

    @property
    def prompts(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """Every prompt sent so far as ``(agent, messages)`` (only with ``keep_prompts=True``)."""
        judge = self.ctx.judge.prompts if self.ctx.judge is not self.ctx.teacher else []
        return [*self.ctx.teacher.prompts, *judge]

    def hold_out(self, texts: Iterable[str], passages: bool = False) -> None:
        """Register held-out texts (validation and test questions): none of them may reach a generator.

        Validation questions passed to :meth:`analyze_errors` are registered automatically (and the
        worked solutions it shows). ``passages=True`` registers longer texts, such as worked
        solutions, by their n-grams only (see :meth:`~pada.agents.leakage.HeldOutGuard.add`).
        """
        self.ctx.guard.add(texts, passages=passages)

    def remember_solutions(self, items: Iterable[Item]) -> None:
        """Remember the worked solutions of task items, by id (items without one are skipped).

        Evaluation records do not carry their item's solution; the analysis of a free-form failure
        and the error-correcting generation show it with the failure. The solution of a validation
        failure that is analysed is then held out like its question.
        """
        self.ctx.solutions.update({i.id: s for i in items if (s := getattr(i, "solution", None))})

    # ------------------------------------------------------------------ the method's steps

    def analyze_errors(self, records: Sequence[EvalRecord]) -> list[Analysis]:
        """Diagnose validation failures: root cause, error scenario, missing knowledge.

        Correct records are ignored; at most ``pattern_mining.max_failures`` failures are analysed (a
        seeded sample). ``pattern_mining.analysis_batch_size`` failures go in one call; failures a
        batched answer leaves out are retried one by one.

        Args:
            records: Evaluation records (normally of the validation split).

        Returns:
            One analysis per failure that could be analysed (the others are in :attr:`failures`).
        """
        return self._analyst(records)

    def mine_patterns(self, analyses: Sequence[Analysis], out_dir: str | Path | None = None) -> MiningResult:
        """Cluster the analyses (embedder + k-means, K by the elbow); write the artifacts to ``out_dir``.

        Args:
            analyses: From :meth:`analyze_errors`.
            out_dir: Where ``clusters.json``, ``inertia.json`` and ``elbow.png`` go (optional).

        Returns:
            The clusters and the chosen K.
        """
        if self.embedder is None and len(analyses) >= int(self.pattern_mining.min_failures_to_cluster):
            raise ValueError("AgentSuite.mine_patterns needs an embedder (pass embedder_cfg)")
        embed = getattr(self.embedder, "encode", self.embedder)  # an embedder object, or a callable
        return mine_patterns(analyses, embed, self.pattern_mining, out_dir)

    def summarize_patterns(self, mining: MiningResult, analyses: Sequence[Analysis]) -> list[Pattern]:
        """Name and describe each cluster's failure pattern (one teacher call per cluster).

        A cluster whose summary cannot be parsed gets a pattern built from its own analyses, so that
        every cluster still leads to a strategy. Sentences that quote held-out text are removed.

        Returns:
            One pattern per cluster, in cluster order.
        """
        return self._patterns.summarize(mining, analyses)

    def draft_strategies(self, patterns: Sequence[Pattern]) -> list[Strategy]:
        """Draft one data-augmentation strategy per pattern (a generic one where parsing fails).

        Returns:
            One strategy per pattern, in order.
        """
        return self._patterns.draft(patterns)

    def generate_from_strategy(
        self, strategy: Strategy, exemplars: Sequence[Item], n: int, path: str = "pattern"
    ) -> list[GeneratedItem]:
        """Write ``n`` distinct new items that follow ``strategy``, in the style of training exemplars.

        Only the strategy (cleaned of held-out text) and the exemplars reach the prompt; an exemplar
        that is (nearly) a held-out question is dropped. Items are distinct from each other and from
        everything this suite generated before; each call has its own rollout, and the questions already
        written are listed as "avoid", so K samples of one strategy are K different items.

        Args:
            strategy: From :meth:`draft_strategies`.
            exemplars: Training items shown as style examples (never validation or test items); for a
                free-form task, its items (:class:`~pada.tasks.schema.QAItem`) with their solutions.
            n: How many items to return (fewer if the teacher fails repeatedly).
            path: The provenance path the items carry (``generic`` for the untargeted control).

        Returns:
            The items, with provenance (``path``, ``origin=strategy.id``).
        """
        return self._generator.from_strategy(strategy, exemplars, n, path)

    def generate_from_train_error(self, record: EvalRecord, n: int = 1) -> list[GeneratedItem]:
        """Write ``n`` new items that exercise the skill behind one *training* failure (LLM2LLM path).

        Args:
            record: A failed training item's evaluation record.
            n: How many items.

        Returns:
            The items, with provenance (``path="train_error"``, ``origin=record.id``).

        Raises:
            ValueError: ``record`` is not from the training split (validation items never reach a
                generator).
        """
        return self._generator.from_train_error(record, n)

    def generate_from_train_errors(self, records: Sequence[EvalRecord]) -> list[GeneratedItem]:
        """One new item for each of several training failures, in one call (the batched LLM2LLM path).

        Args:
            records: Failed training items' evaluation records (one call for all of them).

        Returns:
            At most one item per failure, with provenance (``path="train_error"``, ``origin`` = the
            failure's id); a failure whose item was unusable has none.

        Raises:
            ValueError: A record is not from the training split.
        """
        return self._generator.from_train_errors(records)

    def in_parallel(self, tasks: Sequence[Callable[[], list[T]]]) -> list[T]:
        """Run independent generation requests side by side, up to the teacher's ``concurrency``.

        Each task is a function of no arguments returning a list (e.g. one strategy's items); the
        lists are concatenated in task order, so the result does not depend on timing.
        """
        return [x for part in self.ctx.map(self.ctx.teacher, lambda task: task(), list(tasks)) for x in part]

    def judge(self, items: Sequence[GeneratedItem]) -> list[Verdict]:
        """Judge each item: score its options blind in one forward pass (and write checks if asked).

        The verdict endorses an item when the judge's own best option is the label (and every written
        check passes); its score is the judge's probability for the label. A free-form item is solved
        blind in one short decoded call instead: endorsed, with score 1, when the judge's final answer
        agrees with the item's. An item the judge could not answer is rejected with ``failed=True``.

        Returns:
            One verdict per item, in order.
        """
        return self._judge(items)
