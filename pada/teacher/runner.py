"""Running one agent call robustly: bounded retries with fresh rollouts, counted failures, usage.

Each try uses its own ``rollout_id`` (and, where the provider takes one, the same number as ``seed``),
derived from the run's seed, the agent, the unit of work and the try number. Retries therefore sample
a new answer instead of reading the failed one back from DSPy's cache, while a resumed run makes the
very same requests and is served from the cache without paying the teacher twice.

What can go wrong is sorted into three kinds:

- a parse failure (the answer breaks the format or the contract): counted, retried, then recorded;
- an LM error (timeout, server error): counted, retried, then recorded; many in a row mean the LM is
  gone, and :class:`TeacherUnavailable` stops the run. Before every try the LM's endpoint is checked
  (:meth:`~pada.teacher.lm.LMHandle.ensure_ready`): a local server that died is started again, so the
  try after the one that failed with it goes to the new process;
- a configuration error (bad key, unsupported feature) or a spent budget: raised at once.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import dspy
import pydantic
from dspy.utils.exceptions import (
    AdapterParseError,
    ContextWindowExceededError,
    LMAuthError,
    LMBillingError,
    LMConfigurationError,
    LMUnsupportedFeatureError,
)

from pada.errors import PadaError
from pada.io import JsonRecord
from pada.teacher.lm import LMHandle
from pada.teacher.usage import TeacherBudgetExceeded, UsageMeter

log = logging.getLogger(__name__)

T = TypeVar("T")


class ParseError(ValueError):
    """An answer that does not fit the agent's contract (counted as a parse failure)."""


@dataclass
class AgentFailure(JsonRecord):
    """An agent call that produced nothing usable after its bounded retries.

    Attributes:
        agent: The agent's name (``error_analysis``, ``generation``...).
        key: What it was working on (an item id, a strategy id...).
        error: The last error, one line.
        attempts: How many tries were made.
    """

    agent: str
    key: str
    error: str
    attempts: int


#: Exceptions that mean "the answer does not fit the contract".
PARSE_ERRORS: tuple[type[BaseException], ...] = (
    AdapterParseError,
    ParseError,
    pydantic.ValidationError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
)
#: LM errors that no retry can fix.
FATAL_LM_ERRORS: tuple[type[BaseException], ...] = (
    LMAuthError,
    LMBillingError,
    LMConfigurationError,
    LMUnsupportedFeatureError,
)


#: Temperature of retries when the configured one is lower (a greedy retry repeats itself).
RETRY_TEMPERATURE = 0.7


class TeacherUnavailable(PadaError):
    """The teacher or judge LM cannot be used: misconfigured, or failing call after call."""


def rollout_id(seed: int, *parts: object) -> int:
    """A stable rollout id in ``[1, 2**31)`` for ``(seed, *parts)``."""
    digest = hashlib.sha256("|".join(map(str, (seed, *parts))).encode()).digest()
    return 1 + int.from_bytes(digest[:4], "big") % (2**31 - 2)


@dataclass
class Outcome(Generic[T]):
    """The result of one robust agent call.

    Attributes:
        value: The parsed value, or ``None`` when every try failed.
        rollout: The rollout id of the try that succeeded (or of the last try).
        attempts: Tries made.
        failure: Set when every try failed.
    """

    value: T | None
    rollout: int
    attempts: int
    failure: AgentFailure | None = None

    @property
    def ok(self) -> bool:
        """Whether a value was produced."""
        return self.failure is None


class AgentRunner:
    """Runs DSPy modules against one LM with retries, rollouts, budgets and usage accounting.

    Args:
        handle: The LM and its settings.
        meter: Where usage is accounted (shared by all runners of a run).
        seed: The run's seed (rollout ids derive from it).
        max_consecutive_lm_errors: LM errors in a row after which the LM is declared unavailable.
        keep_prompts: Keep every prompt sent (``(agent, messages)`` in :attr:`prompts`), for audits and
            tests such as "no validation text reaches a generation prompt".
    """

    def __init__(
        self,
        handle: LMHandle,
        meter: UsageMeter,
        seed: int = 0,
        max_consecutive_lm_errors: int = 6,
        keep_prompts: bool = False,
    ) -> None:
        self.handle = handle
        self.meter = meter
        self.seed = seed
        self.max_consecutive_lm_errors = max_consecutive_lm_errors
        self.keep_prompts = keep_prompts
        self.prompts: list[tuple[str, list[dict[str, Any]]]] = []
        self._lm_errors_in_a_row = 0
        self._lock = threading.Lock()
        self._adapter = handle.make_adapter()

    def _lm_for(self, rollout: int, attempt: int, lm_kwargs: dict[str, Any] | None) -> dspy.BaseLM:
        extra: dict[str, Any] = {"rollout_id": rollout, **(lm_kwargs or {})}
        if self.handle.seeded:
            extra["seed"] = rollout
        base_temperature = self.handle.lm.kwargs.get("temperature") or 0.0
        # A call may ask for a lower temperature than the LM's (the free-form judge decodes greedily).
        asked = (lm_kwargs or {}).get("temperature", base_temperature) or 0.0
        if attempt and min(base_temperature, asked) < RETRY_TEMPERATURE:
            # At temperature 0 a retry would return the same broken answer: sample instead.
            extra["temperature"] = RETRY_TEMPERATURE
        # A copy per call: its own history (usage of exactly this call) and its own rollout, sharing the
        # underlying connection pools with the original.
        return self.handle.lm.copy(**extra)

    def run(
        self,
        agent: str,
        key: str,
        module: Callable[..., Any],
        inputs: dict[str, Any],
        parse: Callable[[Any], T],
        attempts: int | None = None,
        lm_kwargs: dict[str, Any] | None = None,
    ) -> Outcome[T]:
        """Call ``module(**inputs)`` and ``parse`` its prediction, retrying with new rollouts.

        Args:
            agent: The agent's name (for usage and failure records).
            key: The unit of work (an item id, a strategy id plus a sample number...): rollout ids
                derive from it, so distinct keys give distinct samples.
            module: A DSPy module or predictor.
            inputs: Its keyword inputs.
            parse: Turns the prediction into the value; raises a parse error (see
                :data:`PARSE_ERRORS`) when the answer does not fit.
            attempts: Tries before giving up (default: the LM's ``max_attempts``).
            lm_kwargs: Per-call LM settings (e.g. a smaller ``max_tokens`` for a short answer).

        Returns:
            The outcome; a failed one carries an :class:`AgentFailure` (never raised).

        Raises:
            TeacherBudgetExceeded: The LM's budget is spent.
            TeacherUnavailable: A configuration error, or too many LM errors in a row.
        """
        attempts = attempts or self.handle.max_attempts
        last_error = ""
        rollout = 0
        for attempt in range(attempts):
            self.meter.check_budget(self.handle.role)
            self.handle.ensure_ready()
            rollout = rollout_id(self.seed, agent, key, attempt)
            lm = self._lm_for(rollout, attempt, lm_kwargs)
            if attempt:
                self.meter.count(agent, retries=1)
            start = time.perf_counter()
            try:
                with dspy.context(lm=lm, adapter=self._adapter):
                    prediction = module(**inputs)
                value = parse(prediction)
            except TeacherBudgetExceeded:
                raise
            except FATAL_LM_ERRORS as exc:
                raise TeacherUnavailable(f"the {self.handle.role} LM cannot be used: {exc}") from exc
            except ContextWindowExceededError as exc:
                # The same prompt will not fit on a second try either.
                self.meter.count(agent, lm_errors=1)
                last_error = f"context window exceeded: {exc}"
                break
            except PARSE_ERRORS as exc:
                self.meter.count(agent, parse_failures=1)
                last_error = f"{type(exc).__name__}: {_one_line(exc)}"
                log.debug("%s %s try %d: parse failure: %s", agent, key, attempt + 1, last_error)
                self._lm_ok()
                continue
            except Exception as exc:  # transport and server errors, after DSPy's own retries
                self.meter.count(agent, lm_errors=1)
                last_error = f"{type(exc).__name__}: {_one_line(exc)}"
                log.warning("%s %s try %d: LM error: %s", agent, key, attempt + 1, last_error)
                self._lm_failed(exc)
                continue
            finally:
                used = self.meter.record_call(
                    agent, self.handle.role, lm.history, time.perf_counter() - start
                )
                log.debug(
                    "%s %s try %d: %.1f s, %d in / %d out tokens%s",
                    agent, key, attempt + 1, used.wall_s, used.input_tokens, used.output_tokens,
                    " (cache)" if used.cache_hits else "",
                )  # fmt: skip
                if self.keep_prompts:
                    with self._lock:
                        self.prompts.extend((agent, e.get("messages") or []) for e in lm.history)
            self._lm_ok()
            return Outcome(value=value, rollout=rollout, attempts=attempt + 1)
        self.meter.count(agent, failed=1)
        failure = AgentFailure(agent=agent, key=key, error=last_error, attempts=attempt + 1)
        log.info("%s gave up on %s after %d tries: %s", agent, key, attempt + 1, last_error)
        return Outcome(value=None, rollout=rollout, attempts=attempt + 1, failure=failure)

    def _lm_ok(self) -> None:
        with self._lock:
            self._lm_errors_in_a_row = 0

    def _lm_failed(self, exc: Exception) -> None:
        with self._lock:
            self._lm_errors_in_a_row += 1
            if self._lm_errors_in_a_row >= self.max_consecutive_lm_errors:
                raise TeacherUnavailable(
                    f"the {self.handle.role} LM failed {self._lm_errors_in_a_row} calls in a row; "
                    f"last error: {type(exc).__name__}: {_one_line(exc)}"
                ) from exc


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
