"""Per-agent accounting of teacher use, and the budgets that stop a run before it overspends.

Every agent call goes through :class:`UsageMeter`: it counts calls, input and output tokens (read from
the LM's history entry of that call), cache hits (an entry with no usage: DSPy served it from its
cache), wall time, parse failures, retries and items given up on. A budget (``max_calls`` /
``max_tokens`` on the teacher or judge config) is checked before each call and stops the run with
:class:`TeacherBudgetExceeded`, which the agents never swallow.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, fields
from typing import Any

from pada.errors import PadaError


class TeacherBudgetExceeded(PadaError):
    """A teacher or judge budget (calls or tokens per run) is spent; the run stops here."""


@dataclass
class AgentUsage:
    """What one agent has consumed so far.

    Attributes:
        calls: LM calls made (including cache hits and retries).
        input_tokens: Prompt tokens reported by the LM.
        output_tokens: Completion tokens reported by the LM.
        cache_hits: Calls answered from DSPy's cache (no tokens spent).
        wall_s: Seconds spent inside the agent's calls.
        parse_failures: Answers that could not be parsed or validated.
        retries: Extra tries after a failed one.
        lm_errors: Calls that failed in the LM client (after its own retries).
        failed: Units of work given up on after the bounded retries.
        dropped: Generated items dropped as duplicates or copies (of examples or held-out items).
    """

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_hits: int = 0
    wall_s: float = 0.0
    parse_failures: int = 0
    retries: int = 0
    lm_errors: int = 0
    failed: int = 0
    dropped: int = 0

    def add(self, other: AgentUsage) -> None:
        """Add another usage record into this one."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass
class Budget:
    """Limits for one LM (``None`` = unlimited)."""

    max_calls: int | None = None
    max_tokens: int | None = None


def _tokens(usage: dict[str, Any]) -> tuple[int, int]:
    # LiteLLM reports prompt/completion tokens, DSPy's native engines input/output tokens.
    inp = usage.get("prompt_tokens", usage.get("input_tokens")) or 0
    out = usage.get("completion_tokens", usage.get("output_tokens")) or 0
    return int(inp), int(out)


class UsageMeter:
    """Thread-safe per-agent usage with per-LM budgets.

    Args:
        budgets: ``{lm role: Budget}``, e.g. ``{"teacher": Budget(max_calls=500)}``.
    """

    def __init__(self, budgets: dict[str, Budget] | None = None) -> None:
        self._lock = threading.Lock()
        self.budgets = dict(budgets or {})
        self.agents: dict[str, AgentUsage] = {}
        self.roles: dict[str, AgentUsage] = {}

    def _agent(self, agent: str) -> AgentUsage:
        return self.agents.setdefault(agent, AgentUsage())

    def check_budget(self, role: str) -> None:
        """Raise :class:`TeacherBudgetExceeded` if ``role``'s budget is spent.

        Args:
            role: ``teacher`` or ``judge``.
        """
        budget = self.budgets.get(role)
        if budget is None:
            return
        with self._lock:
            used = self.roles.get(role, AgentUsage())
            if budget.max_calls is not None and used.calls >= budget.max_calls:
                raise TeacherBudgetExceeded(
                    f"the {role} budget is spent: {used.calls} calls made, `{role}.max_calls` = "
                    f"{budget.max_calls}. Raise it, or lower the generation budget, to go further."
                )
            spent = used.input_tokens + used.output_tokens
            if budget.max_tokens is not None and spent >= budget.max_tokens:
                raise TeacherBudgetExceeded(
                    f"the {role} budget is spent: {spent} tokens used, `{role}.max_total_tokens` = "
                    f"{budget.max_tokens}. Raise it, or lower the generation budget, to go further."
                )

    def record_call(self, agent: str, role: str, history: list[dict[str, Any]], wall_s: float) -> AgentUsage:
        """Account one agent call from the LM history entries it produced.

        Args:
            agent: The agent's name.
            role: ``teacher`` or ``judge`` (the budget it counts against).
            history: The history entries of the LM copy used for this call (one per LM request).
            wall_s: Seconds the call took.

        Returns:
            What this call consumed.
        """
        delta = AgentUsage(wall_s=wall_s)
        for entry in history:
            usage = dict(entry.get("usage") or {})
            delta.calls += 1
            if not usage:
                delta.cache_hits += 1
            inp, out = _tokens(usage)
            delta.input_tokens += inp
            delta.output_tokens += out
        with self._lock:
            self._agent(agent).add(delta)
            self.roles.setdefault(role, AgentUsage()).add(delta)
        return delta

    def count(self, agent: str, **counts: int) -> None:
        """Add to an agent's counters, e.g. ``count("judge", parse_failures=1)``."""
        with self._lock:
            a = self._agent(agent)
            for name, n in counts.items():
                setattr(a, name, getattr(a, name) + n)

    def total(self) -> AgentUsage:
        """The sum over all agents."""
        out = AgentUsage()
        with self._lock:
            for a in self.agents.values():
                out.add(a)
        return out

    def to_dict(self) -> dict[str, Any]:
        """``{"agents": {...}, "roles": {...}, "total": {...}}``, JSON-ready."""
        with self._lock:
            agents = {k: asdict(v) for k, v in self.agents.items()}
            roles = {k: asdict(v) for k, v in self.roles.items()}
        return {"agents": agents, "roles": roles, "total": asdict(self.total())}

    def table(self) -> str:
        """A fixed-width table of per-agent usage, for the log and the console."""
        cols = ("calls", "cache_hits", "input_tokens", "output_tokens", "wall_s", "parse_failures", "failed")
        head = f"{'agent':<22}" + "".join(f"{c:>15}" for c in cols)
        lines = [head, "-" * len(head)]
        rows = [*self.to_dict()["agents"].items(), ("TOTAL", asdict(self.total()))]
        for name, u in rows:
            cells = "".join(f"{u[c]:>15.1f}" if c == "wall_s" else f"{u[c]:>15d}" for c in cols)
            lines.append(f"{name:<22}{cells}")
        return "\n".join(lines)
