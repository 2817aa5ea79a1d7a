"""Student fine-tuning (LoRA via Lightning), letter-scoring evaluation and adapter export.

The public entry points are :func:`pada.training.fine_tune.fine_tune`,
:func:`pada.training.evaluate.evaluate_items` and :func:`pada.training.export.merge_adapter`.
Import them from their modules: this package imports nothing heavy on its own.
"""
