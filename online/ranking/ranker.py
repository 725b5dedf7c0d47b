"""Batched ranking: one call of a SavedModel's ``serving_default`` signature per request.

A model is loaded once per version (``tf.saved_model.load``); inputs are built from the
feature contract and converted with the dtypes the signature declares (JSON ints would
otherwise become int32). TensorFlow is imported lazily, so a bundle without models never
pays for it. ``RecallScoreRanker`` stands in when the bundle has no model at all.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from online.ranking.packed import PackedScorer
from sparrow.feature_spec import serving_batch

log = logging.getLogger(__name__)
SIGNATURE = "serving_default"


class Ranker(Protocol):
    name: str

    def score(self, batch: Mapping[str, np.ndarray]) -> np.ndarray:
        """One score per row of ``batch`` (float32[n])."""
        ...

    def score_rows(self, user: Mapping[str, Any], rows: np.ndarray, movie_arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        """One score per catalogue row of ``rows`` for the user features ``user``."""
        ...


def batch_for_rows(user: Mapping[str, Any], rows: np.ndarray, movie_arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The generic serving batch (one array per feature) of catalogue ``rows`` for ``user``."""
    return serving_batch(user, {k: v[rows] for k, v in movie_arrays.items()})


def _tf() -> Any:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


class SavedModelRanker:
    """A SavedModel directory scored through its ``serving_default`` signature, batched.

    Given the catalogue's movie feature columns (``movie_arrays``), requests take the packed path
    (:class:`online.ranking.packed.PackedScorer`): one graph call with the catalogue inside TF.
    """

    def __init__(self, name: str, path: Path, movie_arrays: Mapping[str, np.ndarray] | None = None) -> None:
        tf = _tf()
        self.name = name
        self.path = Path(path)
        self._loaded = tf.saved_model.load(str(path))
        self._fn = self._loaded.signatures[SIGNATURE]
        self.input_specs: dict[str, Any] = dict(self._fn.structured_input_signature[1])
        outputs = self._fn.structured_outputs
        if len(outputs) != 1:
            log.warning("model %s has %d outputs; using %s", name, len(outputs), sorted(outputs)[0])
        self._output = sorted(outputs)[0]
        self._packed: PackedScorer | None = None
        if movie_arrays is not None:
            try:
                self._packed = PackedScorer(self._fn, self.input_specs, self._output, movie_arrays)
            except ValueError as exc:  # an input outside the feature contract: the generic path still works
                log.warning("model %s: packed scoring off (%s)", name, exc)

    def score_rows(self, user: Mapping[str, Any], rows: np.ndarray, movie_arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        """Scores of catalogue ``rows`` for ``user`` (packed path when bound to the catalogue)."""
        if self._packed is not None:
            return self._packed.score_rows(user, rows)
        return self.score(batch_for_rows(user, rows, movie_arrays))

    def inputs(self, batch: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """The signature's keyword arguments, typed and shaped as it declares them."""
        tf = _tf()
        args: dict[str, Any] = {}
        for name, spec in self.input_specs.items():
            if name not in batch:
                raise KeyError(f"model {self.name} needs input {name!r}, not in the feature contract batch")
            value = np.asarray(batch[name])
            if spec.dtype == tf.string:
                value = value.astype(str).astype(object)
            if spec.shape.rank == 2:
                value = value.reshape(-1, 1)
            args[name] = tf.constant(value, dtype=spec.dtype)
        return args

    def score(self, batch: Mapping[str, np.ndarray]) -> np.ndarray:
        out = self._fn(**self.inputs(batch))[self._output]
        return np.asarray(out.numpy(), dtype=np.float32).reshape(-1)


class TFServingRanker:
    """Adapter over ``online.tfserving_client.TFServingRanker`` (imported lazily; helper H7 owns it)."""

    def __init__(self, name: str, base_url: str, bundle_version: str | None = None) -> None:
        from online.tfserving_client import TFServingRanker as Client
        from online.tfserving_client import tfserving_version

        self.name = name
        self._client = Client(base_url)
        # pin the TF Serving version of this bundle, so scores and recall come from the same version
        self._version = tfserving_version(bundle_version) if bundle_version else None

    def score_rows(self, user: Mapping[str, Any], rows: np.ndarray, movie_arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.score(batch_for_rows(user, rows, movie_arrays))

    def score(self, batch: Mapping[str, np.ndarray]) -> np.ndarray:
        scores = self._client.score(self.name, dict(batch), version=self._version)
        return np.asarray(scores, dtype=np.float32).reshape(-1)


class RecallScoreRanker:
    """No model in the bundle: keep the recall order (its fused score)."""

    name = "recall_score"

    def score(self, batch: Mapping[str, np.ndarray]) -> np.ndarray:  # pragma: no cover - not called
        raise NotImplementedError


class RankerCache:
    """Loads each model of one version at most once (thread-safe); the catalogue owns one."""

    def __init__(
        self,
        models_root: Path | None,
        names: list[str],
        tfserving_url: str | None = None,
        version: str | None = None,
        movie_arrays: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        self.models_root = models_root
        self.movie_arrays = movie_arrays
        self.version = version
        self.names = names
        self.tfserving_url = tfserving_url
        self._lock = threading.Lock()
        self._rankers: dict[str, Ranker] = {}

    def get(self, name: str) -> Ranker:
        with self._lock:
            ranker = self._rankers.get(name)
            if ranker is None:
                if self.tfserving_url:
                    ranker = TFServingRanker(name, self.tfserving_url, self.version)
                else:
                    if self.models_root is None:
                        raise FileNotFoundError(f"no model files for {name}")
                    ranker = SavedModelRanker(name, self.models_root / name, self.movie_arrays)
                self._rankers[name] = ranker
            return ranker
