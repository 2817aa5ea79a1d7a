"""The teacher-side agents of PaDA: error analysis, pattern mining, strategies, generation, judging.

:class:`AgentSuite` is the facade the loop calls; the rest are its parts (DSPy signatures and
modules, the agents, mining, records). How a teacher is reached, retried and accounted for is the
teacher runtime's (:mod:`pada.teacher`). Nothing here knows about training.
"""

from pada.agents.records import (
    AgentFailure,
    Analysis,
    Cluster,
    GeneratedItem,
    MiningResult,
    Pattern,
    Strategy,
    Verdict,
)
from pada.agents.suite import AgentSuite
from pada.teacher.lm import LMHandle, TeacherLMs, build_lm, open_lms
from pada.teacher.runner import TeacherUnavailable
from pada.teacher.usage import AgentUsage, TeacherBudgetExceeded, UsageMeter

__all__ = [
    "AgentFailure",
    "AgentSuite",
    "AgentUsage",
    "Analysis",
    "Cluster",
    "GeneratedItem",
    "LMHandle",
    "MiningResult",
    "Pattern",
    "Strategy",
    "TeacherBudgetExceeded",
    "TeacherLMs",
    "TeacherUnavailable",
    "UsageMeter",
    "Verdict",
    "build_lm",
    "open_lms",
]
