"""Word n-gram overlap between texts: the one comparison behind every "is this text already there?".

Four checks ask it, each with its own n and threshold:

- the quality gate's contamination check (``quality_gate.decontam_ngram`` /
  ``decontam_ngram_threshold``: the share of a candidate's n-grams that one held-out item holds);
- the prompt guard that keeps held-out text out of generation prompts
  (:class:`pada.agents.leakage.HeldOutGuard`: any shared n-gram, and the share of one held-out text
  that a text contains);
- the generator's copy check (:data:`COPY_N`, :data:`COPY_SHARE`: the share of an exemplar a new
  item repeats);
- the whole-run leakage check over the augmented data (:func:`pada.loop.leakage.find_leaks`).

Texts are compared after :func:`pada.tasks.schema.normalize_text`, as tuples of words.
"""

from __future__ import annotations

from collections.abc import Iterable

from pada.tasks.schema import normalize_text

Gram = tuple[str, ...]

#: The generator's copy check: a new item whose word 5-grams hold 60% of an exemplar's (or a held-out
#: text's) is a copy of it.
COPY_N, COPY_SHARE = 5, 0.6


def ngrams(text: str, n: int, whole_if_short: bool = True) -> set[Gram]:
    """The word n-grams of ``text`` after normalisation.

    Args:
        text: Any text.
        n: Words per gram.
        whole_if_short: A text of fewer than ``n`` words gives itself as its one gram (``True``) or
            no gram at all (``False``: it can then match only whole, by another check).
    """
    words = normalize_text(text).split()
    if len(words) < n:
        return {tuple(words)} if words and whole_if_short else set()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


class NgramIndex:
    """An inverted index from word n-gram to the indexed texts that hold it.

    A lookup costs the length of the text looked up, not the size of the index.

    Args:
        n: Words per gram.
        whole_if_short: As for :func:`ngrams`, for indexed and looked-up texts alike.
    """

    def __init__(self, n: int, whole_if_short: bool = True) -> None:
        self.n = n
        self.whole_if_short = whole_if_short
        self.sizes: list[int] = []  # grams per indexed text, by position
        self._holders: dict[Gram, list[int]] = {}

    def __len__(self) -> int:
        return len(self.sizes)

    def grams(self, text: str) -> set[Gram]:
        """The grams of ``text`` as this index cuts them."""
        return ngrams(text, self.n, self.whole_if_short)

    def add(self, text: str, grams: set[Gram] | None = None) -> int:
        """Index ``text`` (or the given ``grams`` of it); returns its position."""
        idx = len(self.sizes)
        grams = self.grams(text) if grams is None else grams
        self.sizes.append(len(grams))
        for gram in grams:
            self._holders.setdefault(gram, []).append(idx)
        return idx

    def extend(self, texts: Iterable[str]) -> None:
        """Index each of ``texts`` in turn."""
        for text in texts:
            self.add(text)

    def holds(self, gram: Gram) -> bool:
        """Whether some indexed text holds ``gram``."""
        return gram in self._holders

    def shared(self, text: str) -> dict[int, list[Gram]]:
        """For each indexed text sharing a gram with ``text``: the shared grams, in sorted order."""
        out: dict[int, list[Gram]] = {}
        for gram in sorted(self.grams(text)):
            for idx in self._holders.get(gram, ()):
                out.setdefault(idx, []).append(gram)
        return out

    def counts(self, grams: Iterable[Gram]) -> dict[int, int]:
        """How many of ``grams`` each indexed text holds (texts holding none are left out)."""
        out: dict[int, int] = {}
        for gram in grams:
            for idx in self._holders.get(gram, ()):
                out[idx] = out.get(idx, 0) + 1
        return out

    def largest_share_of_one(self, text: str) -> float:
        """The largest share of one indexed text's grams that ``text`` contains (0: none, 1: all)."""
        counts = self.counts(self.grams(text))
        return max((c / self.sizes[i] for i, c in counts.items() if self.sizes[i]), default=0.0)
