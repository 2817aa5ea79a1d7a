"""Range and consistency checks on a composed config.

OmegaConf's schemas already reject wrong types and unknown keys; what they cannot say is that a size
must not be negative or that ``k_min <= k_max``. Every check here raises :class:`ConfigError` with the
full key, the offending value and what would be accepted.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from omegaconf import DictConfig

from pada.config.schema import lightning_key_problem
from pada.errors import ConfigError
from pada.tasks.answers import RULES as ANSWER_RULES


def _fail(key: str, value: Any, expected: str) -> None:
    raise ConfigError(f"config key `{key}` = {value!r} is invalid: expected {expected}.")


def _check(cfg: DictConfig, key: str, ok: Callable[[Any], bool], expected: str) -> None:
    value = cfg
    for part in key.split("."):
        value = value[part]
    if not ok(value):
        _fail(key, value, expected)


def _is_size(v: Any) -> bool:
    # A count (a whole number >= 0), -1 for "the rest", or a fraction in (0, 1).
    return v == -1 or (0 < v < 1) or (v >= 0 and float(v).is_integer())


#: Where a method's added items come from (see :class:`pada.config.schema.MethodConfig`).
AUGMENT_WITH = ("targeted", "generic", "real")


def augments(method: Any) -> bool:
    """Whether a method adds items to the training data at all (``sft`` does not)."""
    if method.augment_with == "targeted":
        return bool(method.use_val_patterns or method.use_train_errors)
    return True


def uses_teacher(method: Any) -> bool:
    """Whether a method calls the teacher (``sft`` and the real-data control do not)."""
    return augments(method) and method.augment_with != "real"


def _is_url(text: str) -> bool:
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _unit(v: Any) -> bool:
    return 0.0 <= v <= 1.0


def _lm_checks(cfg: DictConfig, group: str) -> None:
    from pada.teacher.providers import provider_class  # lazy: only configs with a teacher need it

    lm = cfg[group]
    provider = provider_class(lm._target_, f"{group}._target_")
    _check(cfg, f"{group}.temperature", lambda v: 0.0 <= v <= 2.0, "a number in [0, 2]")
    _check(cfg, f"{group}.max_tokens", lambda v: v > 0, "a positive integer")
    _check(cfg, f"{group}.timeout_s", lambda v: v > 0, "a positive number of seconds")
    _check(cfg, f"{group}.num_retries", lambda v: v >= 0, "an integer >= 0")
    _check(cfg, f"{group}.concurrency", lambda v: v >= 1, "an integer >= 1")
    if lm.api_base is not None and not _is_url(str(lm.api_base)):
        _fail(
            f"{group}.api_base",
            lm.api_base,
            "an http:// or https:// URL with a host, e.g. http://localhost:8000/v1",
        )
    if provider.needs_key and uses_teacher(cfg.method):
        env = lm.api_key_env
        if not env or not os.environ.get(env):
            raise ConfigError(
                f"config `{group}` uses provider {provider.name!r}, which needs an API key, but the "
                f"environment variable {env!r} named by `{group}.api_key_env` is not set. Export it, "
                f"or pick the embedded teacher with `{group}=local`."
            )


def validate(cfg: DictConfig) -> None:
    """Check a composed pada config; raise :class:`ConfigError` naming the first bad key.

    Args:
        cfg: The composed root config.

    Raises:
        ConfigError: A value is out of range or inconsistent with another.
    """
    size = "a count >= 0, -1 (all remaining) or a fraction in (0, 1)"
    for key in ("dataset.train_size", "dataset.val_size", "dataset.test_size"):
        _check(cfg, key, _is_size, size)
    if cfg.dataset.final_answer not in ANSWER_RULES:
        _fail("dataset.final_answer", cfg.dataset.final_answer, "one of " + ", ".join(ANSWER_RULES))
    _check(cfg, "dataset.max_new_tokens", lambda v: v >= 1, "an integer >= 1")
    _check(
        cfg, "dataset.select_size", lambda v: _is_size(v) and v != -1, "a count >= 0 or a fraction in (0, 1)"
    )
    if cfg.dataset.kind not in ("multiple_choice", "free_form"):
        _fail("dataset.kind", cfg.dataset.kind, "multiple_choice or free_form")
    from pada.tasks import TaskDataError, build_task  # lazy: only the dataset check needs pada.tasks

    try:
        build_task(cfg.dataset)  # the loader's arguments are checked by building it, which reads nothing
    except TaskDataError as err:
        raise ConfigError(str(err)) from None
    from pada.training.models import build_student  # lazy: it imports torch

    build_student(cfg.model)  # the loader's arguments are checked by building it, which loads nothing
    _check(cfg, "model.max_length", lambda v: v >= 16, "an integer >= 16")
    _check(cfg, "model.lora.r", lambda v: v >= 1, "an integer >= 1")
    _check(cfg, "model.lora.dropout", lambda v: 0.0 <= v < 1.0, "a number in [0, 1)")
    attn = ("auto", "sdpa", "eager", "flash_attention_2", "flash_attention_3", "flex_attention")
    if cfg.model.attn_implementation not in attn:
        _fail("model.attn_implementation", cfg.model.attn_implementation, ", ".join(attn))
    if cfg.model.mc_style not in ("cloze", "letter"):
        _fail("model.mc_style", cfg.model.mc_style, "cloze or letter")
    if cfg.model.dtype not in ("auto", "float32", "bfloat16", "float16"):
        _fail("model.dtype", cfg.model.dtype, "auto, float32, bfloat16 or float16")

    _lm_checks(cfg, "teacher")
    _lm_checks(cfg, "judge")

    pm = "pattern_mining"
    _check(cfg, f"{pm}.analysis_batch_size", lambda v: v >= 1, "an integer >= 1")
    _check(cfg, f"{pm}.near_k", lambda v: v >= 0, "an integer >= 0 (0 = no nearest items)")
    _check(cfg, f"{pm}.max_failures", lambda v: v >= 1, "an integer >= 1")
    _check(cfg, f"{pm}.k_min", lambda v: v >= 1, "an integer >= 1")
    if cfg[pm].k_max < cfg[pm].k_min:
        _fail(f"{pm}.k_max", cfg[pm].k_max, f"an integer >= pattern_mining.k_min ({cfg[pm].k_min})")
    if cfg[pm].k is not None and cfg[pm].k < 1:
        _fail(f"{pm}.k", cfg[pm].k, "null (elbow) or an integer >= 1")
    _check(cfg, f"{pm}.min_failures_to_cluster", lambda v: v >= 1, "an integer >= 1")

    _check(cfg, "generation.budget", lambda v: v >= 0, "an integer >= 0")
    _check(cfg, "generation.val_share", _unit, "a number in [0, 1]")
    _check(cfg, "generation.items_per_call", lambda v: v >= 1, "an integer >= 1")
    _check(cfg, "generation.exemplars", lambda v: v >= 0, "an integer >= 0")
    _check(cfg, "generation.max_train_errors", lambda v: v >= 0, "an integer >= 0")
    _check(cfg, "generation.max_attempts", lambda v: v >= 1, "an integer >= 1")

    for key in ("judge_threshold", "dedup_threshold", "decontam_ngram_threshold", "decontam_embed_threshold"):
        _check(cfg, f"quality_gate.{key}", _unit, "a number in [0, 1]")
    _check(cfg, "quality_gate.decontam_ngram", lambda v: v >= 1, "an integer >= 1")
    qg = cfg.quality_gate
    if qg.max_question_chars < qg.min_question_chars:
        _fail("quality_gate.max_question_chars", qg.max_question_chars, "a value >= min_question_chars")

    tr = "trainer"
    _check(cfg, f"{tr}.devices", lambda v: v >= 1 or v == -1, "an integer >= 1, or -1 for all")
    _check(cfg, f"{tr}.max_epochs", lambda v: v >= 1, "an integer >= 1")
    _check(cfg, f"{tr}.batch_size", lambda v: v >= 1, "an integer >= 1")
    _check(cfg, f"{tr}.eval_batch_size", lambda v: v >= 1, "an integer >= 1")
    _check(cfg, f"{tr}.grad_accum", lambda v: v >= 1, "an integer >= 1")
    _check(cfg, f"{tr}.lr", lambda v: 0 < v < 1, "a learning rate in (0, 1)")
    _check(cfg, f"{tr}.warmup_ratio", _unit, "a number in [0, 1]")
    _check(cfg, f"{tr}.grad_clip", lambda v: v >= 0, "a number >= 0 (0 = off)")
    problem = lightning_key_problem(cfg[tr].lightning)
    if problem:
        raise ConfigError(f"config key {problem}.")
    if cfg[tr].scheduler not in ("cosine", "linear", "constant"):
        _fail(f"{tr}.scheduler", cfg[tr].scheduler, "cosine, linear or constant")

    if cfg.logger.mode not in ("offline", "online", "disabled"):
        _fail("logger.mode", cfg.logger.mode, "offline, online or disabled")

    m = cfg.method
    _check(cfg, "method.rounds", lambda v: v >= 1, "an integer >= 1")
    _check(cfg, "method.patience", lambda v: v >= 1, "an integer >= 1")
    if m.augment_with not in AUGMENT_WITH:
        _fail("method.augment_with", m.augment_with, "one of " + ", ".join(AUGMENT_WITH))
    if m.name != "sft" and m.augment_with == "targeted" and not (m.use_val_patterns or m.use_train_errors):
        _fail("method.use_val_patterns", m.use_val_patterns, "true when use_train_errors is false")
