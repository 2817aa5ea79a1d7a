"""Export: merge a LoRA adapter into its base model and save a standalone Hugging Face folder."""

from __future__ import annotations

from pathlib import Path

import torch

from pada.config.schema import ModelConfig
from pada.training.models import load_base


def merge_adapter(
    model_cfg: ModelConfig, adapter_dir: str | Path, out_dir: str | Path, dtype: torch.dtype | None = None
) -> Path:
    """Merge ``adapter_dir`` into the base model and save model + tokenizer to ``out_dir``.

    Args:
        model_cfg: The student's ``ModelConfig`` (the base the adapter was trained on).
        adapter_dir: The adapter folder.
        out_dir: Where to write the merged model (safetensors, config, tokenizer, chat template).
        dtype: Weight dtype of the export; defaults to float32 (merging in low precision loses detail).

    Returns:
        ``out_dir``, loadable with ``AutoModelForCausalLM.from_pretrained`` and ``AutoTokenizer``.
    """
    from peft import PeftModel

    out_dir = Path(out_dir)
    base, tokenizer = load_base(model_cfg, accelerator="cpu", dtype=torch.float32)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    if dtype is not None:
        merged = merged.to(dtype)
    out_dir.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(out_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(out_dir))
    return out_dir
