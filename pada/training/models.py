"""Load the student (base model + tokenizer) from a ``ModelConfig``, including the in-process tiny one.

``model.loader`` names the loader class with ``_target_``: :class:`PretrainedStudent` reads weights
with ``from_pretrained`` from an ``asset`` (pada's offline asset store), the ``hub`` (a Hugging Face
id) or a ``local`` folder; :class:`TinyRandomStudent` builds a tiny random Llama with a BPE tokenizer
trained in-process, for tests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch

from pada.config.schema import ModelConfig
from pada.errors import ConfigError
from pada.training.prompt import check_style

#: How a :class:`PretrainedStudent`'s ``path`` is read.
SOURCES = ("asset", "hub", "local")

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}

# Special tokens of the tiny test tokenizer; the chat template below uses them.
_TINY_SPECIALS = ["<pad>", "<s>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]
_TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
# A small corpus is enough: byte-level BPE covers any text, the merges only shorten common words.
_TINY_CORPUS = [
    "Which of the following is a source of energy for plants? Sunlight, water, soil, air.",
    "What is the boiling point of water at sea level? 100 degrees Celsius.",
    "Answer with the letter of the correct option. A. B. C. D. E.",
    "Answer with a short phrase or number only.",
    "The heart pumps blood through the body. The lungs take in oxygen.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "A student measures the mass of a rock. Which tool should the student use? A balance.",
    "The moon orbits the Earth, and the Earth orbits the Sun.",
    "Question: what is 2 + 3? The answer is 5.",
]


def mc_style(model_cfg: ModelConfig) -> str:
    """Return the multiple-choice prompt format a model config asks for (``letter`` or ``cloze``).

    Read from ``model.mc_style``; models that cannot learn letter answers cheaply (the 135M student)
    use ``cloze``, which is the default.
    """
    return check_style(str(model_cfg.mc_style))


def attn_implementation(model_cfg: ModelConfig, accelerator: str) -> str:
    """Return the attention implementation to load the student with (``auto``: transformers' default).

    ``auto`` means ``eager`` on a GPU: there, SDPA's backward pass gave NaN gradients for batches
    whose left padding leaves query rows with nothing to attend to (H200, torch 2.11; see
    docs/benchmarks.md), and eager attention was also faster for these short sequences. On the CPU
    ``auto`` keeps transformers' default (SDPA), which is correct there.
    """
    attn = str(model_cfg.attn_implementation)
    on_gpu = runs_on_gpu(accelerator)
    if attn == "auto" and on_gpu:
        return "eager"
    return attn


def runs_on_gpu(accelerator: str) -> bool:
    """Whether a trainer accelerator (``cpu``, ``gpu``, ``cuda`` or ``auto``) means a GPU here."""
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and cuda_available())


def cuda_available() -> bool:
    """Whether a CUDA device can be used."""
    return torch.cuda.is_available()


def resolve_dtype(name: str | None, accelerator: str = "auto") -> torch.dtype:
    """Pick the weight dtype for a model.

    Args:
        name: ``auto`` (float32 on CPU, bfloat16 on a GPU that supports it) or an explicit dtype name.
        accelerator: The trainer's accelerator (``cpu``, ``gpu``, ``cuda`` or ``auto``).

    Returns:
        The torch dtype.
    """
    name = (name or "auto").lower()
    if name != "auto":
        if name not in _DTYPES:
            raise ValueError(f"unknown dtype {name!r}; use auto or one of {sorted(_DTYPES)}")
        return _DTYPES[name]
    on_gpu = runs_on_gpu(accelerator)
    if on_gpu and cuda_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def configure_threads(num_threads: int | None = None, processes: int = 1) -> int:
    """Set torch's intra-op threads: all usable cores shared between ``processes``, at least one.

    Several processes on one CPU (DDP over gloo) each taking every core would oversubscribe it.
    """
    if num_threads is None or num_threads <= 0:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            cores = os.cpu_count() or 1
        num_threads = max(1, cores // max(1, processes))
    torch.set_num_threads(num_threads)
    return num_threads


def build_tiny_tokenizer() -> Any:
    """Train a byte-level BPE tokenizer of a few hundred tokens in-process, with a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=384,
        special_tokens=_TINY_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_TINY_CORPUS, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="<|end|>",
    )
    fast.chat_template = _TINY_CHAT_TEMPLATE
    return fast


def build_tiny_random(seed: int = 0) -> tuple[Any, Any]:
    """Build a tiny random Llama (hidden 32, 2 layers) and its tokenizer, in about 0.1 s.

    The weights come from a private RNG stream, so building it does not move the global seed and two
    builds are identical.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.eval(), tokenizer


@dataclass
class PretrainedStudent:
    """A student ``from_pretrained`` reads: ``model.loader`` with ``_target_: ...PretrainedStudent``.

    Args:
        path: An asset name (pada's offline store), a Hugging Face hub id, or a folder, by ``source``.
        source: ``asset``, ``hub`` or ``local``: how ``path`` is read (as for the embedder).
    """

    path: str
    source: str = "asset"

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            expected = ", ".join(SOURCES)
            raise ConfigError(
                f"config key `model.loader.source` = {self.source!r} is invalid: expected {expected}."
            )

    def folder(self) -> str:
        """The local folder (or hub id) that ``from_pretrained`` reads."""
        from pada.assets import resolve_model_path  # lazy: a tiny student needs no asset store

        return str(resolve_model_path(self.source, str(self.path)))

    def tokenizer(self) -> Any:
        """The student's tokenizer."""
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self.folder())

    def load(self, dtype: torch.dtype, attn_implementation: str = "auto") -> tuple[Any, Any]:
        """The base model in ``dtype`` (with ``attn_implementation`` unless ``auto``) and its tokenizer."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder = self.folder()
        extra = {} if attn_implementation == "auto" else {"attn_implementation": attn_implementation}
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, **extra)
        return model, AutoTokenizer.from_pretrained(folder)

    def describe(self) -> str:
        """Where the weights come from, for the run's plan."""
        return f"{self.source}: {self.path}"


@dataclass
class TinyRandomStudent:
    """The tiny random Llama of :func:`build_tiny_random`, for tests (``model=tiny_random``)."""

    seed: int = 0

    def tokenizer(self) -> Any:
        """Its BPE tokenizer, trained in-process."""
        return build_tiny_tokenizer()

    def load(self, dtype: torch.dtype, attn_implementation: str = "auto") -> tuple[Any, Any]:
        """The model in ``dtype`` and its tokenizer (the attention implementation is its default)."""
        model, tokenizer = build_tiny_random(self.seed)
        return model.to(dtype), tokenizer

    def describe(self) -> str:
        """For the run's plan."""
        return f"built in-process, seed {self.seed}"


def build_student(model_cfg: ModelConfig) -> Any:
    """The student loader ``model.loader`` names, built with ``hydra.utils.instantiate``.

    Any class with ``load(dtype, attn_implementation) -> (model, tokenizer)``, ``tokenizer()`` and
    ``describe()`` will do; :class:`PretrainedStudent` and :class:`TinyRandomStudent` ship.

    Raises:
        ConfigError: No ``_target_``, or the loader cannot be built from its arguments.
    """
    from pada.config.build import build

    return build(model_cfg.loader, "model.loader", "pada.training.models.PretrainedStudent")


def _ensure_pad(tokenizer: Any, model: Any) -> None:
    """Give the tokenizer and model a pad token; pads never enter the loss or attention, so eos will do."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id


def load_tokenizer(model_cfg: ModelConfig) -> Any:
    """Load the student's tokenizer (with a pad token)."""
    tokenizer = build_student(model_cfg).tokenizer()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base(
    model_cfg: ModelConfig, accelerator: str = "auto", dtype: torch.dtype | None = None
) -> tuple[Any, Any]:
    """Load the base causal LM and its tokenizer from a ``ModelConfig``.

    Args:
        model_cfg: The model config (``name``, ``loader``, ``dtype``...).
        accelerator: Where it will run; decides the ``auto`` dtype (float32 on CPU, bfloat16 on GPU).
        dtype: Overrides the config's dtype.

    Returns:
        ``(model, tokenizer)``; the model is on CPU, in eval mode, with a pad token set.
    """
    if dtype is None:
        dtype = resolve_dtype(model_cfg.dtype, accelerator)
    model, tokenizer = build_student(model_cfg).load(dtype, attn_implementation(model_cfg, accelerator))
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError(f"model {model_cfg.name!r} has no chat template (an instruct model is needed)")
    _ensure_pad(tokenizer, model)
    return model.eval(), tokenizer
