"""Typed schemas for every config group, registered in Hydra's ConfigStore.

Each option file of a group in ``conf/`` starts with ``defaults: [base_<group>]``, the schema that
:func:`register` stores for that group, so OmegaConf type-checks every value a user can set.
:mod:`pada.config.validate` adds the range checks a type cannot express.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

T = TypeVar("T")


@dataclass
class LoraConfig:
    """LoRA adapter settings (peft). ``top_layers``: adapt only the last N layers (``null``: all)."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    top_layers: int | None = None


@dataclass
class ModelConfig:
    """The student SLM.

    ``loader`` is the node ``hydra.utils.instantiate`` builds the loader from (its ``_target_``:
    ``pada.training.models.PretrainedStudent``, whose ``source`` says how its ``path`` is read, an
    ``asset`` name, a ``hub`` id or a ``local`` folder; or ``TinyRandomStudent``, built in-process).
    ``mc_style`` is the multiple-choice format the student is trained and scored in: ``cloze`` (answer
    with the option's text, rank options by likelihood) or ``letter`` (answer with the option letter,
    rank options by the letter's probability); see :mod:`pada.training.prompt`.
    ``attn_implementation`` is handed to transformers (``auto``: its default, SDPA).
    """

    name: str = MISSING
    loader: dict[str, Any] = field(default_factory=dict)
    max_length: int = 384
    dtype: str = "auto"
    mc_style: str = "cloze"
    attn_implementation: str = "auto"
    lora: LoraConfig = field(default_factory=LoraConfig)


@dataclass
class DatasetConfig:
    """The task and its splits.

    ``name`` labels the task in run records; ``loader`` is the task itself, a node with a
    ``_target_`` (``pada.tasks.SciReasonTask``, ``Gsm8kTask``, ``JsonlTask`` or a class of one's own,
    see :class:`pada.tasks.Task`) and the class's arguments, built with ``hydra.utils.instantiate``;
    its kind must be ``kind``. A split size is an item count, ``-1`` for "all remaining", or a
    fraction in (0, 1). ``stratify`` keeps each split's mix of sources.
    ``select_size`` (a count or a fraction of validation) keeps that part of validation for choosing
    the round; patterns are mined on the rest. ``0``: all of validation does both.
    Lines a loader skipped (``JsonlTask(invalid_items="skip")``) are listed in the run's
    ``data/skipped.jsonl``. ``path`` is the data file of a task read from one (``dataset=jsonl``:
    its loader's ``path`` follows it, as its ``kind`` follows ``kind``). Free-form tasks:
    ``final_answer`` is the rule that finds the final answer in generated text
    (:mod:`pada.tasks.answers`), ``max_new_tokens`` how much the student may write.
    """

    name: str = MISSING
    kind: str = "multiple_choice"
    path: str | None = None
    loader: dict[str, Any] = field(default_factory=dict)
    train_size: float = 400
    val_size: float = 200
    test_size: float = 400
    select_size: float = 0
    final_answer: str = "auto"
    max_new_tokens: int = 32
    stratify: bool = True
    seed: int = 0


@dataclass
class LMConfig:
    """A teacher or judge LLM reached through DSPy.

    ``_target_`` names the provider class that ``hydra.utils.instantiate`` builds from the node
    (:mod:`pada.teacher.providers`): ``LocalServer`` (the embedded llama.cpp model),
    ``OpenAICompatible`` (``api_base`` + ``model``), ``OpenAI``, ``Anthropic`` or ``Bedrock``. Keys
    are read from the environment variable named by ``api_key_env``, never from config.
    ``concurrency`` is how many calls are in flight at once; for ``local`` it is also the server's
    slot count (continuous batching). ``server_binary`` and ``server_args`` (``local`` only) name the
    ``llama-server`` to run and add arguments to it.
    ``logprobs``: whether the endpoint returns token log-probabilities; ``json_schema``: whether it
    constrains answers to a JSON schema (``null``: by provider, see :mod:`pada.teacher.providers`).
    ``adapter``: how DSPy formats prompts and reads answers (``json``: pada's compact JSON adapter,
    ``chat``: DSPy's own). ``max_attempts``: tries per agent call when an answer does not parse.
    ``max_calls`` / ``max_total_tokens``: a budget that stops the run when spent (``null``: none).
    ``cache_dir``: DSPy's response cache (``null``: the run folder's ``teacher_cache/``).
    """

    _target_: str = "pada.teacher.providers.LocalServer"
    model: str = "qwen2_5_coder_1_5b_instruct"
    api_base: str | None = None
    api_key_env: str | None = None
    temperature: float = 0.7
    max_tokens: int = 768
    timeout_s: float = 120.0
    num_retries: int = 3
    concurrency: int = 1
    n_ctx: int = 4096
    n_threads: int | None = None
    server_binary: str | None = None
    server_args: list[str] = field(default_factory=list)
    logprobs: bool | None = None
    json_schema: bool | None = None
    cache: bool = True
    cache_dir: str | None = None
    adapter: str = "json"
    max_attempts: int = 3
    max_calls: int | None = None
    max_total_tokens: int | None = None


@dataclass
class EmbedderConfig:
    """The sentence embedder used to cluster error analyses and to detect near-duplicates.

    Built by ``hydra.utils.instantiate``: ``_target_`` names the class (any class whose
    ``encode(texts)`` returns one unit-norm row per text), and the other keys are its arguments.
    """

    _target_: str = "pada.mining.Embedder"
    name: str = MISSING
    source: str = "asset"
    path: str = MISSING
    batch_size: int = 32
    device: str = "cpu"


@dataclass
class PatternMiningConfig:
    """Error analysis batching and the k-means / elbow settings."""

    analysis_batch_size: int = 4
    max_failures: int = 40
    k_min: int = 1
    k_max: int = 6
    k: int | None = None
    min_failures_to_cluster: int = 4
    near_k: int = 20
    seed: int = 0


@dataclass
class GenerationConfig:
    """How many synthetic items to ask for and how they are split between the two paths."""

    budget: int = 24
    val_share: float = 0.5
    items_per_call: int = 5
    exemplars: int = 3
    max_train_errors: int = 40
    max_attempts: int = 3


@dataclass
class QualityGateConfig:
    """The quality-control agent's thresholds and the structural / duplicate / leakage checks.

    ``judge_threshold`` is the least probability the judge, solving blind, must give the labelled
    option (which must also be its best one); ``judge_checks`` adds the judge's written verdict;
    ``judge_batch`` items are scored per judge call.
    """

    judge_threshold: float = 0.3
    judge_checks: bool = False
    judge_batch: int = 1
    dedup_threshold: float = 0.92
    decontam_ngram: int = 8
    decontam_ngram_threshold: float = 0.5
    decontam_embed_threshold: float = 0.9
    min_question_chars: int = 10
    max_question_chars: int = 1000


@dataclass
class TrainerConfig:
    """Lightning trainer and optimizer settings for one fine-tuning round.

    ``num_threads``: torch threads per training process on the CPU (``null``: the cores this process
    may use, shared between DDP processes). ``group_by_length`` batches items of similar length
    together; ``shuffle_options`` shows a letter-style item's options in a new order each epoch.

    ``strategy`` is Lightning's: a name (``auto``, ``ddp``...) or a node with a ``_target_`` (for
    example ``lightning.pytorch.strategies.DDPStrategy`` with its own arguments). ``lightning`` is the
    Trainer itself for ``hydra.utils.instantiate``: its ``_target_`` (a ``Trainer`` subclass of one's
    own, if wanted) and any further ``Trainer`` argument (``+trainer.lightning.deterministic=true``).
    The arguments that the fields above set are refused there, so each setting has one key.
    """

    accelerator: str = "cpu"
    devices: int = 1
    strategy: Any = "auto"
    precision: str = "32-true"
    max_epochs: int = 1
    max_steps: int = -1
    batch_size: int = 8
    eval_batch_size: int = 16
    grad_accum: int = 1
    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup_ratio: float = 0.1
    scheduler: str = "cosine"
    grad_clip: float = 1.0
    num_workers: int = 0
    num_threads: int | None = None
    progress_bar: bool = False
    group_by_length: bool = True
    shuffle_options: bool = True
    restart_from_base: bool = True
    lightning: dict[str, Any] = field(default_factory=lambda: {"_target_": "lightning.pytorch.Trainer"})


#: ``Trainer`` arguments that a ``trainer`` field sets, by the field that sets them.
TRAINER_FIELDS = {
    "accelerator": "accelerator",
    "devices": "devices",
    "strategy": "strategy",
    "precision": "precision",
    "max_epochs": "max_epochs",
    "max_steps": "max_steps",
    "accumulate_grad_batches": "grad_accum",
    "gradient_clip_val": "grad_clip",
    "enable_progress_bar": "progress_bar",
    "logger": None,
    "callbacks": None,
}


def lightning_key_problem(lightning: Any) -> str | None:
    """What is wrong with a ``trainer.lightning`` node (an argument a field owns, no target), or None."""
    if "_target_" not in lightning:
        return "trainer.lightning._target_: missing (the Trainer class, e.g. lightning.pytorch.Trainer)"
    for key, owner in TRAINER_FIELDS.items():
        if key in lightning:
            where = f"trainer.{owner}" if owner else "pada (it passes its own)"
            return f"trainer.lightning.{key}: set by {where}, not here"
    return None


@dataclass
class LoggerConfig:
    """Experiment tracking. ``mode`` is always explicit: ``offline``, ``online`` or ``disabled``.

    Built by ``hydra.utils.instantiate``: ``_target_`` names the tracker class
    (:class:`pada.tracking.Tracker`, W&B), and the other keys are its arguments.
    """

    _target_: str = "pada.tracking.Tracker"
    mode: str = "offline"
    project: str = "pada"
    entity: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass
class MethodConfig:
    """Which augmentation method runs: PaDA, a baseline, an ablation, or a control.

    ``augment_with`` says where a round's added items come from: ``targeted`` (items the teacher writes
    from validation patterns and / or training failures: PaDA, its ablations, LLM2LLM), ``generic``
    (items the teacher writes from the task description and training exemplars alone, through the same
    gate) or ``real`` (real items of the task that are in no split: the most the budget can buy).
    """

    name: str = MISSING
    augment_with: str = "targeted"
    rounds: int = 1
    patience: int = 1
    use_val_patterns: bool = True
    use_train_errors: bool = True
    cluster: bool = True
    quality_gate: bool = True
    augment_synthetic: bool = True


@dataclass
class PadaConfig:
    """The root config (``conf/config.yaml``)."""

    model: ModelConfig = MISSING
    dataset: DatasetConfig = MISSING
    teacher: LMConfig = MISSING
    judge: LMConfig = MISSING
    embedder: EmbedderConfig = MISSING
    pattern_mining: PatternMiningConfig = MISSING
    generation: GenerationConfig = MISSING
    quality_gate: QualityGateConfig = MISSING
    trainer: TrainerConfig = MISSING
    logger: LoggerConfig = MISSING
    method: MethodConfig = MISSING
    experiment_name: str = "default"
    seed: int = 0
    resume: str | None = None
    dry_run: bool = False
    export_merged: bool = True


GROUP_SCHEMAS: dict[str, type] = {
    "model": ModelConfig,
    "dataset": DatasetConfig,
    "teacher": LMConfig,
    "judge": LMConfig,
    "embedder": EmbedderConfig,
    "pattern_mining": PatternMiningConfig,
    "generation": GenerationConfig,
    "quality_gate": QualityGateConfig,
    "trainer": TrainerConfig,
    "logger": LoggerConfig,
    "method": MethodConfig,
}


def register() -> None:
    """Register the root schema and one ``base_<group>`` schema per group in the ConfigStore."""
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=PadaConfig)
    for group, schema in GROUP_SCHEMAS.items():
        cs.store(group=group, name=f"base_{group}", node=schema)


def plain(node: Any, *, unresolved_ok: bool = False) -> dict[str, Any]:
    """A config node (``DictConfig`` or any mapping) as a plain dict, interpolations resolved.

    With ``unresolved_ok``, a node whose interpolations cannot resolve here (``${hydra:...}`` outside
    a Hydra job) is returned with them as written instead of raising.
    """
    if not isinstance(node, DictConfig):
        return dict(node)
    try:
        return OmegaConf.to_container(node, resolve=True)  # type: ignore[return-value]
    except Exception:
        if not unresolved_ok:
            raise
        return OmegaConf.to_container(node, resolve=False)  # type: ignore[return-value]


def typed(schema: type[T], cfg: Any = None) -> T:
    """``cfg`` as a complete, type-checked ``schema`` node; the schema's defaults fill the keys it lacks.

    ``cfg`` may be a composed config group, a dict of some of the keys (tests, notebooks, bench
    scripts), a ``schema`` instance (returned as it is) or ``None`` (all defaults). A key the schema
    does not declare raises OmegaConf's error, which names it; so does a value of the wrong type.
    """
    if isinstance(cfg, schema):
        return cfg
    if isinstance(cfg, DictConfig):
        if OmegaConf.get_type(cfg) is schema:  # composed from the schema: complete already
            return cfg  # type: ignore[return-value]
        cfg = OmegaConf.to_container(cfg, resolve=True)  # interpolations point into its own root
    node = OmegaConf.structured(schema)
    return node if cfg is None else OmegaConf.merge(node, cfg)  # type: ignore[return-value]
