"""Build the teacher and judge ``dspy.LM`` objects from their configs, and own what they need.

Every teacher is reached the same way: DSPy's OpenAI-compatible client (LiteLLM) over HTTP. What
differs is only where the endpoint comes from, which the provider class named by the role's
``_target_`` says (:mod:`pada.teacher.providers`):

- ``local``: the embedded GGUF served by llama.cpp's own ``llama-server``, which pada starts on a
  loopback port with ``concurrency`` slots, watches (restarting it if it dies) and stops
  (:mod:`pada.teacher.server`). When the teacher and the judge are the same local model they share
  one server.
- ``openai_compatible``: ``api_base`` + ``model`` (vLLM, Ollama, a llama.cpp server, a proxy).
- ``openai``, ``anthropic``, ``bedrock``: LiteLLM model strings; keys only from the environment.

DSPy's response cache is process-global, so :func:`open_lms` points it at the run's
``teacher_cache/`` folder (or ``<role>.cache_dir``) for the duration of the context and restores the
previous cache afterwards; each LM's own ``cache`` flag decides whether it reads and writes it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dspy
from omegaconf import OmegaConf

from pada.config.schema import LMConfig, typed
from pada.errors import ConfigError
from pada.teacher.providers import Provider, build_provider
from pada.teacher.usage import Budget

log = logging.getLogger(__name__)


@dataclass
class LMHandle:
    """One configured LM and how the agents should use it.

    Attributes:
        role: ``teacher`` or ``judge``.
        lm: The DSPy LM.
        provider: The provider's name (``local``, ``openai``...: :data:`pada.teacher.providers.PROVIDERS`).
        concurrency: How many calls may run at once.
        seeded: Whether each rollout sends its own ``seed`` (the provider's API takes one).
        budget: The run's call / token limits for this LM.
        adapter: ``json``, ``dspy_json`` or ``chat``: how prompts are formatted (see :meth:`make_adapter`).
        max_attempts: Tries per unit of work before it is recorded as failed.
        server: The local ``llama-server`` behind the LM (``None`` for remote teachers).
        logprobs: Whether the endpoint returns token log-probabilities (the judge scores options
            with them; without, it decodes a blind answer).
        json_schema: Whether answers are constrained to the signature's JSON schema
            (``response_format: json_schema``), which the endpoint enforces.
    """

    role: str
    lm: dspy.LM
    provider: str
    concurrency: int = 1
    seeded: bool = True
    budget: Budget = field(default_factory=Budget)
    adapter: str = "json"
    max_attempts: int = 3
    server: Any = None
    logprobs: bool = True
    json_schema: bool = False

    def ensure_ready(self) -> None:
        """Make sure the endpoint is up: a local server that died is started again."""
        if self.server is not None and self.server.ensure_running():
            # A restart may have moved it to another port; every call copies the LM's kwargs.
            self.lm.kwargs["api_base"] = self.server.api_base

    def make_adapter(self) -> dspy.Adapter:
        """A fresh adapter of the configured kind; never a silent fallback (a parse failure is counted).

        ``json`` (default): :class:`~pada.agents.adapters.CompactJSONAdapter`; ``dspy_json``: DSPy's
        JSONAdapter (schemas in the prompt); ``chat``: DSPy's ChatAdapter (``[[ ## field ## ]]`` markers).
        """
        from pada.agents.adapters import CompactJSONAdapter

        if self.adapter == "json":
            return CompactJSONAdapter(json_schema=self.json_schema)
        if self.adapter == "dspy_json":
            return dspy.JSONAdapter()
        if self.adapter == "chat":
            return dspy.ChatAdapter(use_json_adapter_fallback=False)
        raise ConfigError(
            f"config key `{self.role}.adapter` = {self.adapter!r} is invalid: "
            "expected json, dspy_json or chat."
        )


def resolve_gguf(model: str) -> Path:
    """The GGUF file for a local teacher: a path to a ``.gguf`` file, or an asset name.

    Raises:
        ConfigError: The path does not exist.
    """
    candidate = Path(os.path.expanduser(model))
    if candidate.suffix == ".gguf" or candidate.is_file():
        if not candidate.is_file():
            raise ConfigError(f"config key `teacher.model` = {model!r}: no such GGUF file.")
        return candidate
    from pada.assets import asset_path  # lazy: fetching assets is not needed for remote teachers

    return Path(asset_path(model))


class _Servers:
    """Local ``llama-server`` processes of one :func:`open_lms` context, shared by teacher and judge."""

    def __init__(self, stack: contextlib.ExitStack, log_dir: Path | None) -> None:
        self.stack = stack
        self.log_dir = log_dir
        self._by_key: dict[tuple[Any, ...], Any] = {}

    def get(self, path: Path, cfg: Provider) -> Any:
        from pada.teacher.server import LlamaServer

        parallel = max(1, int(cfg.concurrency))
        n_ctx = int(cfg.n_ctx)
        threads = cfg.n_threads
        binary = cfg.server_binary
        extra = tuple(str(a) for a in cfg.server_args)
        key = (str(path), parallel, n_ctx, threads, binary, extra)
        if key not in self._by_key:
            log_path = self.log_dir / "teacher_server.log" if self.log_dir else None
            server = LlamaServer(
                path, parallel=parallel, n_ctx=n_ctx, n_threads=threads, binary=binary,
                log_path=log_path, extra_args=extra,
            )  # fmt: skip
            self._by_key[key] = self.stack.enter_context(server)
        return self._by_key[key]


def build_lm(cfg: LMConfig | Provider, role: str = "teacher", servers: _Servers | None = None) -> LMHandle:
    """Build one LM from a ``teacher`` / ``judge`` node: its provider, then the one LiteLLM path.

    Args:
        cfg: The ``teacher`` or ``judge`` config node (its ``_target_`` names the provider class), a
            dict of some of its keys, or a provider already built.
        role: ``teacher`` or ``judge`` (names config keys in messages and the budget).
        servers: Where local servers are started and shared; required for a local provider.

    Returns:
        The LM with the settings the agents need to drive it.

    Raises:
        ConfigError: A ``_target_`` that is no provider, a missing key or api_base, a missing GGUF.
    """
    provider = build_provider(cfg, role)
    where = provider.endpoint(role, servers)
    reach = {k: v for k, v in (("api_base", where.api_base), ("api_key", where.api_key)) if v is not None}
    lm = dspy.LM(
        where.model,
        timeout=float(provider.timeout_s),
        temperature=float(provider.temperature),
        max_tokens=int(provider.max_tokens),
        num_retries=int(provider.num_retries),
        cache=bool(provider.cache),
        **reach,
    )
    return LMHandle(
        role=role,
        lm=lm,
        provider=provider.name,
        concurrency=max(1, int(provider.concurrency)),
        seeded=provider.seeded,
        budget=Budget(max_calls=provider.max_calls, max_tokens=provider.max_total_tokens),
        adapter=str(provider.adapter),
        max_attempts=max(1, int(provider.max_attempts)),
        server=where.server,
        logprobs=provider.has_logprobs if provider.logprobs is None else bool(provider.logprobs),
        json_schema=provider.has_json_schema if provider.json_schema is None else bool(provider.json_schema),
    )


def distinct_judge(teacher_cfg: LMConfig, judge_cfg: LMConfig) -> LMConfig | None:
    """``judge_cfg``, or ``None`` when it configures the same LM as the teacher (which then judges too)."""
    same = OmegaConf.to_container(judge_cfg, resolve=True) == OmegaConf.to_container(
        teacher_cfg, resolve=True
    )
    return None if same else judge_cfg


@contextlib.contextmanager
def dspy_cache_at(cache_dir: str | Path | None) -> Iterator[None]:
    """Point DSPy's global response cache at ``cache_dir`` for the context (memory-only if ``None``).

    The previous cache is restored on exit, so jobs of a multirun sharing a process do not leak
    cached answers into each other's folders.
    """
    previous = dspy.cache
    if cache_dir is None:
        dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=True)
    else:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        dspy.configure_cache(enable_disk_cache=True, enable_memory_cache=True, disk_cache_dir=str(cache_dir))
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            dspy.cache.disk_cache.close()  # type: ignore[union-attr]
        with dspy._cache_lock:
            dspy.cache = previous


@dataclass
class TeacherLMs:
    """The teacher and the judge of one run (possibly the same runtime underneath)."""

    teacher: LMHandle
    judge: LMHandle


@contextlib.contextmanager
def open_lms(
    teacher_cfg: LMConfig,
    judge_cfg: LMConfig | None = None,
    run_dir: str | Path | None = None,
) -> Iterator[TeacherLMs]:
    """Build the teacher and judge LMs, start what they need, and stop it all on exit.

    Args:
        teacher_cfg: The ``teacher`` config.
        judge_cfg: The ``judge`` config (``None``: the teacher judges too).
        run_dir: The run folder: the cache goes to ``<run_dir>/teacher_cache`` unless
            ``teacher.cache_dir`` is set, and the local server's log to ``<run_dir>/teacher_server.log``.
            ``None`` keeps the cache in memory only.

    Yields:
        The two LMs.
    """
    # LiteLLM otherwise fetches its cost map over HTTPS on import; pada runs offline.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    run_dir = Path(run_dir) if run_dir is not None else None
    teacher_cfg = typed(LMConfig, teacher_cfg)
    cache_dir = teacher_cfg.cache_dir or (run_dir / "teacher_cache" if run_dir else None)
    with contextlib.ExitStack() as stack:
        stack.enter_context(dspy_cache_at(cache_dir))
        servers = _Servers(stack, run_dir)
        teacher = build_lm(teacher_cfg, "teacher", servers)
        judge = build_lm(judge_cfg, "judge", servers) if judge_cfg is not None else None
        if judge is None:
            judge = LMHandle(**{**teacher.__dict__, "role": "judge", "budget": Budget()})
        yield TeacherLMs(teacher=teacher, judge=judge)
