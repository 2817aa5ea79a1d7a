"""Offline by construction: the environment that keeps a run away from model hubs and the internet."""

from __future__ import annotations

import os

#: Set before transformers, huggingface_hub or litellm are imported. Users with hub access can
#: override any of them in their environment (only unset keys are filled in).
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "TOKENIZERS_PARALLELISM": "false",
}


def apply() -> None:
    """Fill in :data:`OFFLINE_ENV` for every key the environment does not set already."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
