"""The non-LLM half of quality control: structure, duplicates and contamination.

The judge (an LLM agent) decides whether an item is correct and fits its pattern; this module decides
everything that can be decided without one, and combines both into one decision per item with every
reason kept. Checks run in a fixed order so an item's first reason is its cheapest one.

Free-form items (a problem, an optional worked solution, a final answer) are checked for what they
have: a question of sane length, a short final answer, a solution of sane length, no text addressed to
the pipeline. Duplicates and contamination compare the question (an item's options, when it has any).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pada.config.schema import QualityGateConfig
from pada.overlap import NgramIndex
from pada.tasks.answers import as_number
from pada.tasks.schema import Item, QAItem, normalize_text

Embed = Callable[[list[str]], np.ndarray]


#: A free-form item's final answer is a number or a short phrase; its worked solution a few paragraphs.
MAX_ANSWER_CHARS, MAX_SOLUTION_CHARS = 200, 3000


def item_text(item: Item) -> str:
    """The text an item is compared by: its question and its options (a free-form item: its question)."""
    choices = getattr(item, "choices", ())
    return " ".join([item.question, *choices])


def judge_score(verdict: Any) -> float:
    """The judge's score in [0, 1]: its probability for the label, or 0 when it does not endorse the item.

    The judge endorses an item when its own best option, answering blind, is the labelled one (and,
    with ``quality_gate.judge_checks``, every written check passed). An independent solve is the
    evidence that counts: the embedded 1.5B judge reported "another option is also correct" for 10 of
    the 12 items whose label it had just chosen itself (docs/method.md), so a self-report alone is
    not trusted.
    """
    if getattr(verdict, "failed", False) or not getattr(verdict, "accepted", False):
        return 0.0
    return float(verdict.score)


def passes_judge(score: float, threshold: float) -> bool:
    """Whether a judge score (:func:`judge_score`) clears ``quality_gate.judge_threshold``.

    The one acceptance rule of the gate, its calibration and the benches: the judge must endorse the
    item (a score above 0) with at least ``threshold``, so a threshold of 0 still asks for an
    endorsement rather than letting every verdict through.
    """
    return score > 0 and score >= threshold


@dataclass
class GateDecision:
    """The gate's decision on one item, with every reason it was rejected."""

    item_id: str
    accepted: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def reason_kinds(self) -> list[str]:
        """The reasons' categories (``structure``, ``judge``, ``duplicate``, ``contamination``)."""
        return [r.split(":", 1)[0] for r in self.reasons]


#: Text that addresses the pipeline rather than a student: a generated item is data, never instructions.
_INJECTION = re.compile(
    r"ignore (all |any )?(the )?(previous|prior|above) (instructions|prompts?)|system prompt|"
    r"api[ _-]?key|mark (this|the) item as (accepted|correct)|"
    r"you are (now )?an? (ai|assistant|language model)",
    re.IGNORECASE,
)


def structural_problems(item: Item, cfg: QualityGateConfig) -> list[str]:
    """Checks that need nothing but the item: option count, one correct answer, lengths, injected text.

    A free-form item is checked by :func:`free_form_problems` instead.
    """
    if isinstance(item, QAItem):
        return free_form_problems(item, cfg)
    problems = []
    if any(_INJECTION.search(text) for text in (item.question, *item.choices)):
        problems.append("structure: the item carries instructions aimed at the pipeline")
    if not cfg.min_question_chars <= len(item.question.strip()) <= cfg.max_question_chars:
        problems.append(
            f"structure: question length {len(item.question.strip())} outside "
            f"[{cfg.min_question_chars}, {cfg.max_question_chars}]"
        )
    if not 2 <= len(item.choices) <= 8:
        problems.append(f"structure: {len(item.choices)} options (expected 2 to 8)")
    # Empty means no letter or digit at all: "A" or "The" normalize to nothing yet are options.
    if any(not re.search(r"\w", c) for c in item.choices):
        problems.append("structure: an empty option")
    normalized = [normalize_text(c) for c in item.choices]
    if len(set(normalized)) != len(normalized):
        problems.append("structure: two options say the same thing, so the answer is not unique")
    return problems


def free_form_problems(item: QAItem, cfg: QualityGateConfig) -> list[str]:
    """The structural checks of a free-form item.

    Its question within the length limits, a final answer that is there and short, a worked solution
    (when it has one) that is not empty and not overlong, and no text addressed to the pipeline.
    """
    problems = []
    solution = item.solution
    if any(_INJECTION.search(text) for text in (item.question, item.answer, solution or "")):
        problems.append("structure: the item carries instructions aimed at the pipeline")
    if not cfg.min_question_chars <= len(item.question.strip()) <= cfg.max_question_chars:
        problems.append(
            f"structure: question length {len(item.question.strip())} outside "
            f"[{cfg.min_question_chars}, {cfg.max_question_chars}]"
        )
    answer = item.answer.strip()
    if not normalize_text(answer) and as_number(answer) is None:
        problems.append("structure: no final answer")
    elif len(answer) > MAX_ANSWER_CHARS:
        problems.append(f"structure: final answer of {len(answer)} characters (at most {MAX_ANSWER_CHARS})")
    if solution is not None:
        if not solution.strip():
            problems.append("structure: an empty worked solution")
        elif len(solution.strip()) > MAX_SOLUTION_CHARS:
            size = len(solution.strip())
            problems.append(f"structure: worked solution of {size} characters (at most {MAX_SOLUTION_CHARS})")
    return problems


class QualityGate:
    """Duplicate and contamination checks against reference items, plus the judge's threshold.

    Args:
        cfg: Thresholds.
        embed: Maps texts to L2-normalized embedding rows (the run's sentence embedder).
        known: Items a new item must not duplicate (the training split, earlier synthetic items).
        protected: Items no synthetic item may resemble (validation and test).
    """

    def __init__(
        self, cfg: QualityGateConfig, embed: Embed, known: Sequence[Item], protected: Sequence[Item]
    ) -> None:
        self.cfg = cfg
        self.embed = embed
        self._known_ids = [i.id for i in known]
        self._known_exact = {normalize_text(item_text(i)): i.id for i in known}
        self._known_vecs = embed([item_text(i) for i in known]) if known else np.zeros((0, 1))
        self._protected_ids = [i.id for i in protected]
        self._protected_vecs = embed([item_text(i) for i in protected]) if protected else np.zeros((0, 1))
        # An inverted index from n-gram to the protected items holding it keeps the overlap check
        # linear in the candidate's length rather than in the size of validation + test.
        self._vec_cache: dict[str, np.ndarray] = {}
        self._protected_grams = NgramIndex(cfg.decontam_ngram)
        self._protected_grams.extend(item_text(item) for item in protected)

    def _contamination(self, text: str, vec: np.ndarray) -> list[str]:
        reasons = []
        grams = self._protected_grams.grams(text)
        if grams and len(self._protected_grams):
            hits = self._protected_grams.counts(grams)
            if hits:
                idx, count = max(hits.items(), key=lambda kv: kv[1])
                share = count / len(grams)
                if share >= self.cfg.decontam_ngram_threshold:
                    reasons.append(
                        f"contamination: {share:.0%} of its {self.cfg.decontam_ngram}-grams appear in "
                        f"held-out item {self._protected_ids[idx]}"
                    )
        if len(self._protected_vecs):
            sims = self._protected_vecs @ vec
            idx = int(np.argmax(sims))
            if sims[idx] >= self.cfg.decontam_embed_threshold:
                reasons.append(
                    f"contamination: cosine {sims[idx]:.3f} to held-out item {self._protected_ids[idx]}"
                )
        return reasons

    def prescreen(self, items: Sequence[Item]) -> list[list[str]]:
        """The checks that need no judge, so that only items that pass them cost a judge call.

        Structure, an exact or near duplicate of a known item, contamination; an item's duplicates
        among the other candidates are found later, by :meth:`check`, which knows which of them
        were accepted.

        Returns:
            The reasons to reject each item (empty: it may go to the judge), in order.
        """
        vecs = self._vectors(items)
        return [self._cheap_reasons(item, vecs[item.id], [], []) for item in items]

    def _cheap_reasons(
        self, item: Item, vec: np.ndarray, batch_vecs: list[np.ndarray], batch_ids: list[str]
    ) -> list[str]:
        # Structure, an exact or near duplicate (of known items and of those accepted from this
        # batch so far), contamination: everything that needs no judge, in that order.
        text = item_text(item)
        reasons = structural_problems(item, self.cfg)
        exact = self._known_exact.get(normalize_text(text))
        if exact is not None:
            reasons.append(f"duplicate: identical to {exact}")
        else:
            reasons.extend(self._near_duplicate(vec, batch_vecs, batch_ids))
        reasons.extend(self._contamination(text, vec))
        return reasons

    def _vectors(self, items: Sequence[Item]) -> dict[str, np.ndarray]:
        # Each candidate is embedded once, whether prescreen, check or both look at it.
        missing = [i for i in items if i.id not in self._vec_cache]
        if missing:
            for item, vec in zip(missing, self.embed([item_text(i) for i in missing]), strict=True):
                self._vec_cache[item.id] = vec
        return {i.id: self._vec_cache[i.id] for i in items}

    def check(
        self, items: Sequence[Item], judge_scores: dict[str, tuple[float, list[str]]] | None = None
    ) -> list[GateDecision]:
        """Decide on each item; accepted items become known, so later items cannot duplicate them.

        Args:
            items: Candidate synthetic items, in the order they should be considered.
            judge_scores: ``{item id: (score in [0, 1], reasons)}`` from the judge; ``None`` skips
                the judge (the ``pada_no_quality_gate`` ablation still removes exact duplicates
                and contamination, which are about validity of the experiment, not quality). An
                item without a score that a cheaper check rejects was never sent to the judge.

        Returns:
            One decision per item, in order.
        """
        decisions = []
        vecs = self._vectors(items)
        accepted_vecs: list[np.ndarray] = []
        accepted_ids: list[str] = []
        for item in items:
            vec = vecs[item.id]
            reasons = self._cheap_reasons(item, vec, accepted_vecs, accepted_ids)
            if judge_scores is not None:
                if item.id in judge_scores:
                    score, why = judge_scores[item.id]
                    threshold = self.cfg.judge_threshold
                    if not passes_judge(score, threshold):
                        short = f"{score:.2f} < {threshold}" if score < threshold else "0 (not endorsed)"
                        reasons.append(f"judge: score {short}: " + "; ".join(why))
                elif not reasons:
                    reasons.append("judge: no verdict from the judge")
            ok = not reasons
            decisions.append(GateDecision(item.id, ok, reasons))
            if ok:
                self._known_exact[normalize_text(item_text(item))] = item.id
                accepted_vecs.append(vec)
                accepted_ids.append(item.id)
        if accepted_vecs:
            self._known_vecs = np.vstack([self._known_vecs, np.stack(accepted_vecs)])
            self._known_ids.extend(accepted_ids)
        return decisions

    def _near_duplicate(
        self, vec: np.ndarray, batch_vecs: list[np.ndarray], batch_ids: list[str]
    ) -> list[str]:
        refs = self._known_vecs
        ids = self._known_ids
        if batch_vecs:
            refs = np.vstack([refs, np.stack(batch_vecs)]) if len(refs) else np.stack(batch_vecs)
            ids = ids + batch_ids
        if not len(refs):
            return []
        sims = refs @ vec
        idx = int(np.argmax(sims))
        if sims[idx] >= self.cfg.dedup_threshold:
            return [f"duplicate: cosine {sims[idx]:.3f} to {ids[idx]}"]
        return []
