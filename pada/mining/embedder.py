"""The sentence embedder (Sentence-BERT) that places error analyses where k-means can group them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np


class Embedder:
    """A lazily loaded sentence-transformers model; the ``embedder`` config group builds one.

    Args:
        name: The embedder's name (logs and run records).
        source: How ``path`` is read: ``asset`` (pada's offline store), ``hub`` or ``local``.
        path: An asset name, a hub id or a folder.
        batch_size: Sentences per forward pass.
        device: ``cpu`` or ``cuda``.
        model: An already loaded model with ``encode`` (tests pass a stand-in).
    """

    def __init__(
        self,
        name: str = "",
        source: str = "asset",
        path: str = "",
        batch_size: int = 32,
        device: str = "cpu",
        model: Any = None,
    ) -> None:
        self.name, self.source, self.path = name, source, path
        self.batch_size, self.device = int(batch_size), device
        self._model = model

    @property
    def model(self) -> Any:
        """The sentence-transformers model, loaded on first use."""
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            from pada.assets import resolve_model_path

            folder = resolve_model_path(str(self.source), str(self.path))
            self._model = SentenceTransformer(folder, device=str(self.device))
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm embeddings, one row per text (so that Euclidean k-means follows cosine similarity)."""
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        vecs = self.model.encode(
            list(texts), batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True
        )
        vecs = np.asarray(vecs, dtype=np.float32)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs / np.maximum(norms, 1e-12)
