"""Keeping held-out text out of generation prompts.

Only the abstract pattern and strategy may travel from the validation failures to the generator.
Analyses and pattern summaries are written by a model that did read validation questions, and it may
quote them; :class:`HeldOutGuard` remembers the held-out (validation and test) texts as word n-grams,
scrubs sentences that share one, and measures how much of a held-out item a text contains.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

from pada.overlap import NgramIndex
from pada.tasks.schema import normalize_text

_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")


class HeldOutGuard:
    """Word n-gram index of held-out texts.

    Args:
        n: The n-gram length; held-out texts shorter than ``n`` words are matched as a whole.
    """

    def __init__(self, n: int = 6) -> None:
        self.n = n
        self._index = NgramIndex(n)
        self._short: list[str] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._index) + len(self._short)

    def add(self, texts: Iterable[str], passages: bool = False) -> None:
        """Remember more held-out texts (questions of validation and test items).

        Args:
            texts: The texts.
            passages: They are passages, such as worked solutions: only their n-grams count, and one
                shorter than ``n`` words is skipped (matched whole, a short solution such as
                ``"6 x 4 = 24"`` would flag every text that mentions its numbers).
        """
        with self._lock:
            for text in texts:
                grams = self._index.grams(text)
                if not grams:
                    continue
                if len(next(iter(grams))) < self.n:
                    if not passages:
                        self._short.append(" ".join(next(iter(grams))))
                    continue
                self._index.add(text, grams)

    def shared(self, text: str) -> bool:
        """Whether ``text`` shares any n-gram with a held-out text (or contains a short one whole)."""
        if any(self._index.holds(g) for g in self._index.grams(text)):
            return True
        norm = f" {normalize_text(text)} "
        return any(f" {s} " in norm for s in self._short)

    def max_share(self, text: str) -> float:
        """The largest share of one held-out text's n-grams found in ``text`` (0 = nothing, 1 = all)."""
        best = self._index.largest_share_of_one(text)
        norm = f" {normalize_text(text)} "
        if any(f" {s} " in norm for s in self._short):
            best = 1.0
        return best

    def scrub(self, text: str) -> str:
        """``text`` without the sentences that share an n-gram with a held-out text."""
        if not len(self):
            return text
        kept = [s for s in _SENTENCE.split(text) if s.strip() and not self.shared(s)]
        return " ".join(s.strip() for s in kept)
