"""Export trained models as SavedModels with a serving signature over raw named features.

Contract (read by the online ranker): ``tf.saved_model.load(path).signatures["serving_default"]``
takes one keyword argument per feature of ``sparrow.feature_spec.ALL_FEATURES`` — shape
``(None,)``, dtype int64 for ids, string for genres, float32 for numerics — and returns
``{"score": float32 (batch,)}``, the click/like probability. The two-tower model's ``user_tower``
and ``item_tower`` sub-directories take USER_FEATURES / MOVIE_FEATURES the same way and return
``{"embedding": float32 (batch, d)}``, L2-normalised. Each SavedModel also has a ``serve``
function taking the same features as one dict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from sparrow.feature_spec import ALL_FEATURES, Feature

SIGNATURE = "serving_default"
ENDPOINT = "serve"
SCORE_OUTPUT = "score"
EMBEDDING_OUTPUT = "embedding"


def input_signature(features: Sequence[Feature]) -> dict[str, tf.TensorSpec]:
    """``{name: TensorSpec((None,), dtype, name)}`` for the given features."""
    return {
        f.name: tf.TensorSpec((None, *f.shape), tf.dtypes.as_dtype(f.dtype), name=f.name) for f in features
    }


def _export(model: keras.Model, path: Path, features: Sequence[Feature], output: str) -> None:
    archive = keras.export.ExportArchive()
    archive.track(model)

    def serve(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return {output: model(inputs, training=False)}

    archive.add_endpoint(ENDPOINT, serve, input_signature=[input_signature(features)])
    archive.write_out(str(path), verbose=False)


def export_ranking_model(model: keras.Model, path: Path) -> dict[str, str]:
    """Write ``model`` (all raw features -> ``(B,)`` probability) to ``path``; return its signature info."""
    _export(model, Path(path), ALL_FEATURES, SCORE_OUTPUT)
    return {"signature": SIGNATURE, "output": SCORE_OUTPUT}


def export_tower(model: keras.Model, path: Path, features: Sequence[Feature]) -> dict[str, Any]:
    """Write a tower (``features`` -> ``(B, d)`` unit vectors) to ``path``; return its manifest entry."""
    _export(model, Path(path), features, EMBEDDING_OUTPUT)
    return {
        "signature": SIGNATURE,
        "output": EMBEDDING_OUTPUT,
        "dim": int(model.output.shape[-1]),
        "inputs": [f.name for f in features],
    }


def as_tensors(
    batch: Mapping[str, np.ndarray], features: Sequence[Feature] = ALL_FEATURES
) -> dict[str, tf.Tensor]:
    """Keyword arguments for a signature: each column as a tensor of the spec's dtype (JSON ints are int32)."""
    return {
        f.name: tf.constant(np.asarray(batch[f.name]), dtype=tf.dtypes.as_dtype(f.dtype)) for f in features
    }


def tower_vectors(
    tower: keras.Model, columns: Mapping[str, np.ndarray], features: Sequence[Feature], batch_size: int = 8192
) -> np.ndarray:
    """``(n, d)`` float32 outputs of ``tower`` over in-memory feature columns, ``batch_size`` rows a call."""
    n = len(next(iter(columns.values()))) if columns else 0
    dim = int(tower.output.shape[-1])
    parts = [
        np.asarray(tower(as_tensors({k: v[i : i + batch_size] for k, v in columns.items()}, features), training=False))
        for i in range(0, n, batch_size)
    ]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, dim), np.float32)


def load_signature(path: Path) -> Any:
    """The ``serving_default`` function of a SavedModel (keep the returned object's owner alive)."""
    loaded = tf.saved_model.load(str(path))
    signature = loaded.signatures[SIGNATURE]
    signature._sparrow_owner = loaded  # the concrete function does not keep its SavedModel alive
    return signature
