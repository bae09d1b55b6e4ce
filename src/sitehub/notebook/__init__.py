"""Helpers for notebooks: batch compute without learning the batch system."""

from sitehub.notebook.batchmap import batch_map

__all__ = ["batch_map"]
