"""Option probabilities from token log-probabilities: a multiple-choice answer in one forward pass.

The judge solves a generated item by asking for one token, the option letter, with ``logprobs`` and
``top_logprobs`` (llama-server and other OpenAI-compatible APIs return them). The probability of each
option is read from the alternatives at that first token and renormalized over the item's letters, so
no text is decoded beyond one token. Tokens are matched loosely (``" B"``, ``"B."``, ``"(b"`` all
count as ``B``), and a letter the top list does not hold gets probability 0.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pada.tasks.schema import LETTERS

#: Alternatives asked for at the answer token: enough to hold every option of an 8-option item.
TOP_LOGPROBS = 20

_LETTER = re.compile(r"^[\s(\[<*]*([A-Za-z])[\s).:\]>*]*$")


_in_scoring_call = threading.local()


class _ExpectedTruncation(logging.Filter):
    """Drops DSPy's "LM response was truncated" warning for one-token scoring calls, which stop there."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (getattr(_in_scoring_call, "on", False) and "truncated" in record.getMessage())


logging.getLogger("dspy.clients.lm").addFilter(_ExpectedTruncation())


@contextlib.contextmanager
def one_token_call() -> Iterator[None]:
    """Mark the calls made in this thread, inside the context, as one-token scoring calls."""
    _in_scoring_call.on = True
    try:
        yield
    finally:
        _in_scoring_call.on = False


def _field(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def token_letter(token: str, n_options: int) -> str | None:
    """The option letter a token stands for (``" b."`` -> ``B``), or ``None``."""
    m = _LETTER.match(token or "")
    if not m:
        return None
    letter = m.group(1).upper()
    return letter if letter in LETTERS[:n_options] else None


def answer_tokens(logprobs: Any) -> list[Any]:
    """The per-token entries of a choice's ``logprobs`` (OpenAI shape: ``{"content": [...]}``)."""
    if logprobs is None:
        return []
    content = _field(logprobs, "content")
    if content is None and isinstance(logprobs, Sequence) and not isinstance(logprobs, str):
        content = logprobs
    return list(content or [])


def option_probabilities(logprobs: Any, n_options: int) -> dict[str, float] | None:
    """``{letter: probability}`` over the first ``n_options`` letters, from a response's logprobs.

    The first token that is not blank is the answer token; its ``top_logprobs`` (and the token
    itself) give each letter's log-probability. ``None`` when there are no logprobs or no letter
    among the alternatives (the caller then falls back to the decoded text).
    """
    for entry in answer_tokens(logprobs):
        token = str(_field(entry, "token") or "")
        if not token.strip():
            continue
        mass: dict[str, float] = {}
        alternatives = list(_field(entry, "top_logprobs") or [])
        seen = set()
        for alt in [entry, *alternatives]:
            tok = str(_field(alt, "token") or "")
            lp = _field(alt, "logprob")
            if tok in seen or lp is None:
                continue
            seen.add(tok)
            letter = token_letter(tok, n_options)
            if letter is not None:
                mass[letter] = mass.get(letter, 0.0) + math.exp(float(lp))
        total = sum(mass.values())
        if total <= 0:
            return None
        return {letter: mass.get(letter, 0.0) / total for letter in LETTERS[:n_options]}
    return None


_NUMBER = re.compile(r"^\s*(\d+)\s*[.):]\s*$")


def numbered_option_probabilities(logprobs: Any, n_options: Sequence[int]) -> list[dict[str, float] | None]:
    """Per-question option probabilities from an answer of lines ``1. B`` / ``2. D`` / ...

    The answer token of question *k* is the first non-blank token after ``k.`` (or ``k)``, ``k:``) at
    the start of a line; its alternatives give that question's distribution, renormalized over its
    letters. A question with no such token, or none of its letters among the alternatives, gets
    ``None``.
    """
    out: list[dict[str, float] | None] = [None] * len(n_options)
    line = ""
    for entry in answer_tokens(logprobs):
        token = str(_field(entry, "token") or "")
        m = _NUMBER.match(line)
        if m and token.strip():
            k = int(m.group(1)) - 1
            if 0 <= k < len(out) and out[k] is None:
                out[k] = option_probabilities({"content": [entry]}, n_options[k])
        line = (line + token).rsplit("\n", 1)[-1]
    return out


def best_option(probs: Mapping[str, float]) -> tuple[str, float]:
    """The most probable letter and its probability (the first letter wins a tie)."""
    letter = max(probs, key=lambda k: (probs[k], -LETTERS.index(k)))
    return letter, probs[letter]
