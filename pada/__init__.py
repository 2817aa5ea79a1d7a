"""pada: pattern-guided data augmentation for small language models (PaDA-Agent)."""

__version__ = "0.1.0"
