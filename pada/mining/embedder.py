"""The sentence embedder (Sentence-BERT) that places error analyses where k-means can group them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from pada.config.schema import EmbedderConfig, typed


class Embedder:
    """A lazily loaded sentence-transformers model from an :class:`~pada.config.schema.EmbedderConfig`.

    Args:
        cfg: The ``embedder`` config: ``source`` + ``path`` (an asset name by default),
            ``batch_size``, ``device``.
        model: An already loaded model with ``encode`` (tests pass a stand-in).
    """

    def __init__(self, cfg: EmbedderConfig | None = None, model: Any = None) -> None:
        self.cfg = typed(EmbedderConfig, cfg)
        self._model = model

    @property
    def model(self) -> Any:
        """The sentence-transformers model, loaded on first use."""
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            from pada.assets import resolve_model_path

            path = resolve_model_path(str(self.cfg.source), str(self.cfg.path))
            self._model = SentenceTransformer(path, device=str(self.cfg.device))
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm embeddings, one row per text (so that Euclidean k-means follows cosine similarity)."""
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        batch = int(self.cfg.batch_size)
        vecs = self.model.encode(
            list(texts), batch_size=batch, show_progress_bar=False, convert_to_numpy=True
        )
        vecs = np.asarray(vecs, dtype=np.float32)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs / np.maximum(norms, 1e-12)
