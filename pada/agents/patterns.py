"""From clusters to patterns to strategies: the teacher names each cluster's failure and plans data for it.

Both steps end in text that travels to the generator, so both are scrubbed of held-out sentences
(:class:`~pada.agents.leakage.HeldOutGuard`). Both also fall back to something usable when the teacher's
answer cannot be parsed, so that every cluster leads to a strategy.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from pada.agents.context import MAX_TOKENS, AgentContext
from pada.agents.modules import PatternSummary, StrategyDraft
from pada.agents.parsing import nonempty
from pada.agents.records import Analysis, Cluster, MiningResult, Pattern, Strategy
from pada.agents.signatures import first_int

#: Analyses shown to the pattern summarizer per cluster (a seeded sample of bigger clusters).
MAX_ANALYSES_PER_PATTERN = 8


class PatternWriter:
    """Runs :class:`~pada.agents.modules.PatternSummary` and :class:`~pada.agents.modules.StrategyDraft`."""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.summary = PatternSummary()
        self.strategy = StrategyDraft()

    def summarize(self, mining: MiningResult, analyses: Sequence[Analysis]) -> list[Pattern]:
        """One pattern per cluster (see :meth:`AgentSuite.summarize_patterns`)."""
        by_id = {a.id: a for a in analyses}
        return self.ctx.map(self.ctx.teacher, lambda c: self._summarize(c, by_id), mining.clusters)

    def _summarize(self, cluster: Cluster, by_id: dict[str, Analysis]) -> Pattern:
        ctx = self.ctx
        members = [by_id[i] for i in cluster.member_ids if i in by_id]
        if len(members) > MAX_ANALYSES_PER_PATTERN:
            members = random.Random(ctx.seed + cluster.id).sample(members, MAX_ANALYSES_PER_PATTERN)
        texts = [f"{a.error_scenario} Cause: {a.root_cause} Missing: {a.missing_knowledge}" for a in members]

        def parse(pred: Any) -> Pattern:
            name = ctx.guard.scrub(nonempty(pred.name, "name"))
            description = ctx.guard.scrub(nonempty(pred.description, "description"))
            return Pattern(
                id=f"pattern-{cluster.id}",
                name=nonempty(name, "name (after removing held-out text)"),
                description=nonempty(description, "description (after removing held-out text)"),
                cluster_id=cluster.id,
                member_ids=list(cluster.member_ids),
            )

        outcome = ctx.teacher.run(
            "pattern_summary",
            f"cluster/{cluster.id}/" + ",".join(cluster.member_ids),
            self.summary,
            {"task": ctx.task, "analyses": texts},
            parse,
            lm_kwargs=ctx.cap(ctx.teacher, MAX_TOKENS["pattern_summary"]),
        )
        ctx.record(outcome.failure)
        return outcome.value if outcome.value is not None else self._fallback_pattern(cluster, members)

    def _fallback_pattern(self, cluster: Cluster, members: Sequence[Analysis]) -> Pattern:
        # The cluster's most common missing knowledge names it; its scenarios describe it.
        counts: dict[str, int] = {}
        for a in members:
            counts[a.missing_knowledge] = counts.get(a.missing_knowledge, 0) + 1
        top = max(counts, key=lambda k: counts[k]) if counts else ""
        name = self.ctx.guard.scrub(top) or "missing domain knowledge"
        scenarios = self.ctx.guard.scrub(" ".join(a.error_scenario for a in members[:2]))
        return Pattern(
            id=f"pattern-{cluster.id}",
            name=name[:120],
            description=f"The student lacks {name}. {scenarios}".strip()[:600],
            cluster_id=cluster.id,
            member_ids=list(cluster.member_ids),
        )

    def draft(self, patterns: Sequence[Pattern]) -> list[Strategy]:
        """One strategy per pattern (see :meth:`AgentSuite.draft_strategies`)."""
        return self.ctx.map(self.ctx.teacher, self._draft, patterns)

    def _draft(self, p: Pattern) -> Strategy:
        ctx = self.ctx
        pattern_text = f"{p.name}: {p.description}"

        def clean(value: Any, default: str) -> str:
            return ctx.guard.scrub(str(value or "")).strip() or default

        def parse(pred: Any) -> Strategy:
            return Strategy(
                id=f"strategy-{p.id}",
                pattern_id=p.id,
                pattern=pattern_text,
                what_to_write=nonempty(
                    clean(nonempty(pred.what_to_write, "what_to_write"), ""), "what_to_write"
                ),
                what_to_vary=clean(pred.what_to_vary, "the wording and context"),
                what_to_avoid=clean(pred.what_to_avoid, "copying the examples"),
                count=_as_count(pred.count),
            )

        outcome = ctx.teacher.run(
            "strategy_draft",
            f"strategy/{p.id}/{p.name}",
            self.strategy,
            {"task": ctx.task, "pattern": pattern_text},
            parse,
            lm_kwargs=ctx.cap(ctx.teacher, MAX_TOKENS["strategy_draft"]),
        )
        ctx.record(outcome.failure)
        if outcome.value is not None:
            return outcome.value
        return Strategy(
            id=f"strategy-{p.id}",
            pattern_id=p.id,
            pattern=pattern_text,
            what_to_write=f"new questions that require {p.name}",
            what_to_vary="the situations, objects and wording",
            what_to_avoid="copying the examples; questions with more than one defensible answer",
            count=0,
        )


def _as_count(value: Any) -> int:
    # The suggested size is advisory: an unreadable one is 0 ("no suggestion"), not a parse failure.
    n = first_int(value)
    return max(0, n) if isinstance(n, int) and not isinstance(n, bool) else 0
