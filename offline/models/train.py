"""Train one ranking model: compile, fit on the streamed train samples, predict the test samples."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from offline.models.stream import ParquetSamples
from offline.params import PipelineParams

CURVE_POINTS_PER_EPOCH = 20


class BatchLossCurve(keras.callbacks.Callback):
    """Records the running training loss ~20 times per epoch: a curve even for a one-epoch run."""

    def __init__(self, steps_per_epoch: int) -> None:
        super().__init__()
        self.every = max(1, steps_per_epoch // CURVE_POINTS_PER_EPOCH)
        self.steps_per_epoch = steps_per_epoch
        self.points: list[tuple[float, float]] = []  # (epoch progress, running loss)
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if logs and (batch + 1) % self.every == 0:
            self.points.append((self._epoch + (batch + 1) / self.steps_per_epoch, float(logs["loss"])))


@dataclass
class TrainResult:
    """Per-epoch history (``loss``, ``auc``, ``val_loss``, ``val_auc``), the batch-loss curve and time."""

    history: dict[str, list[float]]
    batch_curve: list[tuple[float, float]]
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


def compile_model(model: keras.Model, learning_rate: float) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.AUC(name="auc")],
    )


def fit(
    model: keras.Model, train: ParquetSamples, test: ParquetSamples | None, params: PipelineParams
) -> TrainResult:
    """Fit for ``params.epochs`` on batches streamed from the train Parquet (reshuffled every epoch).

    The test set, if given, is only *monitored* per epoch (curves), never used to stop early or pick
    a checkpoint, so the final test metrics stay honest. A one-epoch run skips the monitoring pass:
    its single point is the final evaluation, which the caller makes anyway (at the ML-25M shape
    that pass would read 5M test rows on top of the 20M trained on).
    """
    monitor = test is not None and params.epochs > 1
    compile_model(model, params.learning_rate)
    steps = int(np.ceil(len(train) / params.batch_size))
    curve = BatchLossCurve(steps)
    start = time.perf_counter()
    history = model.fit(
        train.to_dataset(
            params.batch_size, shuffle=True, seed=params.seed, shuffle_buffer=params.shuffle_buffer
        ),
        validation_data=test.to_dataset(max(params.batch_size, 4096)) if monitor and test else None,
        epochs=params.epochs,
        callbacks=[curve],
        shuffle=False,  # the dataset reshuffles itself every epoch
        verbose=0,
    )
    seconds = time.perf_counter() - start
    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    return TrainResult(hist, curve.points, seconds)


def fit_many(
    models: Mapping[str, keras.Model],
    train: ParquetSamples,
    test: ParquetSamples | None,
    params: PipelineParams,
) -> dict[str, TrainResult]:
    """Fit every model in ``models`` together: one streamed pass per epoch feeds them all.

    The models share no weights, so the gradient of the summed loss with respect to one model's
    weights is that model's own gradient, and Adam keeps its moments per weight: each model gets
    the updates a fit of its own on the same batches would give. What is shared is the cost that
    is not the models' arithmetic: reading and decoding the Parquet batches and Keras' per-step
    dispatch, paid once instead of once per model. Each result has that model's ``loss`` / ``auc``
    history (its binary cross-entropy, without the L2 penalty that a single fit's ``loss``
    includes), its batch-loss curve and the joint fit's seconds (``extra["joint_with"]`` names
    the models it was shared with).
    """
    from offline.models.layers import raw_inputs

    if len(models) == 1:
        name, model = next(iter(models.items()))
        return {name: fit(model, train, test, params)}
    names = list(models)
    inputs = raw_inputs(train.features)
    joint = keras.Model(inputs, {name: models[name](inputs) for name in names}, name="joint")
    joint.compile(
        optimizer=keras.optimizers.Adam(params.learning_rate),
        loss={name: keras.losses.BinaryCrossentropy() for name in names},
        metrics={name: [keras.metrics.AUC(name="auc")] for name in names},
    )
    # the models are compiled too, so each can be evaluated or fitted on its own afterwards
    for model in models.values():
        compile_model(model, params.learning_rate)

    def per_model(data: Any) -> Any:
        return data.map(lambda features, label: (features, {name: label for name in names}))

    monitor = test is not None and params.epochs > 1
    steps = int(np.ceil(len(train) / params.batch_size))
    curves = {name: _OutputLossCurve(steps, f"{name}_loss") for name in names}
    start = time.perf_counter()
    history = joint.fit(
        per_model(train.to_dataset(
            params.batch_size, shuffle=True, seed=params.seed, shuffle_buffer=params.shuffle_buffer
        )),
        validation_data=per_model(test.to_dataset(max(params.batch_size, 4096))) if monitor and test else None,
        epochs=params.epochs,
        callbacks=list(curves.values()),
        shuffle=False,
        verbose=0,
    )
    seconds = time.perf_counter() - start
    results = {}
    for name in names:
        hist = {}
        for key, vals in history.history.items():
            prefix, _, metric = key.partition(f"{name}_")
            if metric and prefix in ("", "val_"):
                hist[prefix + metric] = [float(v) for v in vals]
        results[name] = TrainResult(hist, curves[name].points, seconds, {"joint_with": names})
    return results


class _OutputLossCurve(BatchLossCurve):
    """:class:`BatchLossCurve` of one output of a joint fit (its ``<name>_loss`` log entry)."""

    def __init__(self, steps_per_epoch: int, key: str) -> None:
        super().__init__(steps_per_epoch)
        self.key = key

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if logs and (batch + 1) % self.every == 0:
            self.points.append((self._epoch + (batch + 1) / self.steps_per_epoch, float(logs[self.key])))


class _Forward:
    """``model(features, training=False)`` as a callable object, not a function.

    TensorFlow counts traces per Python code object: six ``tf.function`` s of one lambda (or of
    ``model.predict``) read as one function retraced six times ("excessive retracing" warnings);
    each instance of a class with ``__call__`` is counted on its own.
    """

    def __init__(self, model: keras.Model) -> None:
        self.model = model

    def __call__(self, features: Any) -> Any:
        return self.model(features, training=False)


EVAL_BATCH = 16_384  # rows per evaluation call: a compiled call's fixed cost is paid 4x less often than at 4096


def predict(
    model: keras.Model, samples: ParquetSamples, batch_size: int = EVAL_BATCH
) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, probabilities)``, both ``(N,)``, for every sample in file order (streamed batches)."""
    labels, probs = predict_many({"model": model}, samples, batch_size)
    return labels, probs["model"]


def predict_many(
    models: Mapping[str, keras.Model], samples: ParquetSamples, batch_size: int = EVAL_BATCH
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(labels, {name: probabilities})`` of every model over one streamed pass of ``samples``.

    One pass for all models: reading and decoding 5M test rows costs about as much as one model's
    forward passes over them, so evaluating six models in six passes spent most of its time reading.
    Only the float arrays are kept (5M rows: 40 MB per model), whatever the feature columns weigh.
    """
    import tensorflow as tf

    data = samples.to_dataset(batch_size)
    # one compiled forward per model with a fixed signature: eager calls re-dispatch every layer's ops
    # per batch (measured: 4.9x the time of this pass for six models, bench/eval_timing.py)
    forwards = {
        name: tf.function(_Forward(model), input_signature=[data.element_spec[0]]) for name, model in models.items()
    }
    labels: list[np.ndarray] = []
    probs: dict[str, list[np.ndarray]] = {name: [] for name in models}
    for features, label in data:
        for name, forward in forwards.items():
            probs[name].append(np.asarray(forward(features)).reshape(-1))
        labels.append(label.numpy())
    return (
        np.concatenate(labels).astype(np.float64),
        {name: np.concatenate(p).astype(np.float64) for name, p in probs.items()},
    )
