"""The pipeline's model step: train, evaluate and export every requested model into a bundle."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from offline.models.config import BuiltModel, ModelConfig
from offline.models.dataset import feature_arrays, load_samples
from offline.models.evaluate import (
    BASELINE_FEATURES,
    PRIMARY_BASELINE,
    baseline_scores,
    binary_metrics,
    roc_points,
)
from offline.models.export import export_ranking_model, export_tower, tower_vectors
from offline.models.layers import FeatureVocab
from offline.models.plots import (
    CALIBRATION_PNG,
    ROC_PNG,
    TRAINING_PNG,
    plot_calibration,
    plot_roc,
    plot_training,
)
from offline.models.registry import build_model
from offline.models.stream import ParquetSamples
from offline.models.train import TrainResult, fit, fit_many, predict, predict_many
from offline.params import PipelineParams
from sparrow import feature_spec
from sparrow.bundle import ITEM_TOWER, TWO_TOWER_MODEL, TWO_TOWER_USER, USER_TOWER, BundleWriter

log = logging.getLogger(__name__)

METRICS_JSON = "metrics.json"
REPORT_MODELS_KEY = "models"
REPORT_BASELINES_KEY = "baselines"
BASELINE_ENTRY = "baseline"
TOWER_FEATURES = {USER_TOWER: feature_spec.USER_FEATURES, ITEM_TOWER: feature_spec.MOVIE_FEATURES}


def _scalar_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if not isinstance(v, list | dict)}


def build_seeded(name: str, vocab: FeatureVocab, params: PipelineParams) -> BuiltModel:
    """The untrained model ``name``, its weights drawn from ``params.seed`` (the same whatever else is built)."""
    import keras

    keras.utils.set_random_seed(params.seed)
    return build_model(name, vocab, ModelConfig.from_extra(params.extra))


def export_entry(name: str, built: BuiltModel, out_dir: Path) -> dict[str, Any]:
    """Export a trained model (and its towers) into ``out_dir``; its manifest entry without metrics."""
    started = time.perf_counter()
    entry: dict[str, Any] = {
        "feature_spec": feature_spec.feature_spec(),
        **export_ranking_model(built.model, out_dir),
    }
    if built.towers:
        entry["towers"] = {
            tower: {"path": tower, **export_tower(model, out_dir / tower, TOWER_FEATURES[tower])}
            for tower, model in built.towers.items()
        }
    log.info("model %s: export %.1fs", name, time.perf_counter() - started)
    return entry


def record_evaluation(
    name: str,
    entry: dict[str, Any],
    result: TrainResult,
    y_true: np.ndarray,
    y_prob: np.ndarray,
    n_train: int,
    params: PipelineParams,
    out_dir: Path,
) -> dict[str, Any]:
    """Test metrics into ``entry`` and ``out_dir/metrics.json``; returns the run details for plots."""
    metrics = binary_metrics(y_true, y_prob)
    metrics.update(train_seconds=round(result.seconds, 2), epochs=params.epochs, n_train=n_train)
    if "joint_with" in result.extra:  # train_seconds is then the one fit shared by all of them
        metrics["trained_with"] = ",".join(result.extra["joint_with"])
    if "val_loss" not in result.history:  # fit skipped monitoring: the final evaluation is the only point
        result.history.update(val_loss=[metrics["logloss"]], val_auc=[metrics["roc_auc"]])
    (out_dir / METRICS_JSON).write_text(
        json.dumps(
            {"model": name, **metrics, "history": result.history, "batch_curve": result.batch_curve}, indent=2
        )
    )
    entry["metrics"] = _scalar_metrics(metrics)
    log.info(
        "model %s: test roc_auc=%.4f logloss=%.4f, trained in %.1fs (%d rows)",
        name,
        metrics["roc_auc"],
        metrics["logloss"],
        result.seconds,
        n_train,
    )
    return {"roc": roc_points(y_true, y_prob), "calibration": metrics["calibration"], **vars(result)}


def train_one(
    name: str,
    train: ParquetSamples,
    test: ParquetSamples,
    vocab: FeatureVocab,
    params: PipelineParams,
    out_dir: Path,
) -> tuple[BuiltModel, dict[str, Any], dict[str, Any]]:
    """Build, train, evaluate and export one model into ``out_dir``.

    Returns ``(trained model, manifest entry, run details for plots)``.
    """
    built = build_seeded(name, vocab, params)
    result = fit(built.model, train, test, params)
    entry = export_entry(name, built, out_dir)
    y_true, y_prob = predict(built.model, test)
    return built, entry, record_evaluation(name, entry, result, y_true, y_prob, len(train), params, out_dir)


def write_report(
    report_dir: Path, entries: dict[str, dict], runs: dict[str, dict], baselines: dict[str, dict]
) -> None:
    """Plots + ``report/metrics.json`` (read-modify-write: other steps keep their own keys there)."""
    curves = {n: {**runs[n]["roc"], "auc": entries[n]["metrics"]["roc_auc"]} for n in entries}
    for name, b in baselines.items():
        curves[f"baseline: {name}"] = {**b["roc"], "auc": b["metrics"]["roc_auc"], "baseline": True}
    plot_roc(curves, report_dir / ROC_PNG)
    plot_training(runs, report_dir / TRAINING_PNG)
    plot_calibration(
        {
            **{n: r["calibration"] for n, r in runs.items()},
            **{f"baseline: {n}": b["metrics"]["calibration"] for n, b in baselines.items()},
        },
        report_dir / CALIBRATION_PNG,
    )
    path = report_dir / METRICS_JSON
    report = json.loads(path.read_text()) if path.is_file() else {}
    models = dict(report.get(REPORT_MODELS_KEY, {}))
    models.update({n: e["metrics"] for n, e in entries.items()})
    models[BASELINE_ENTRY] = {
        **_scalar_metrics(baselines[PRIMARY_BASELINE]["metrics"]),
        "baseline": PRIMARY_BASELINE,
    }
    report[REPORT_MODELS_KEY] = models
    report[REPORT_BASELINES_KEY] = {n: _scalar_metrics(b["metrics"]) for n, b in baselines.items()}
    report["plots"] = sorted(set(report.get("plots", [])) | {ROC_PNG, TRAINING_PNG, CALIBRATION_PNG})
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2, sort_keys=True))
    os.replace(tmp, path)


def evaluate_baselines(train: Path, test: Path) -> dict[str, dict]:
    """Metrics and ROC points of each baseline, reading only the columns the baselines use."""
    train_cols = load_samples(train, BASELINE_FEATURES, meta=False)
    test_cols = load_samples(test, BASELINE_FEATURES, meta=False)
    return {
        name: {"metrics": binary_metrics(test_cols.label, y_prob), "roc": roc_points(test_cols.label, y_prob)}
        for name, y_prob in baseline_scores(train_cols, test_cols).items()
    }


def write_user_tower_vectors(tower: Any, users: Path, writer: BundleWriter) -> dict[str, int]:
    """NeuralCF user-tower vectors of every user's offline snapshot -> ``embeddings/two_tower_user``.

    ``users`` is the users table (userId + every USER_FEATURES column), the same rows the online
    side reads as a user's snapshot, so a request for a user without nearline ratings finds the
    vector the tower would compute and skips the SavedModel call. Returns ``{dim, count}``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(users, columns=[f.name for f in feature_spec.USER_FEATURES])
    columns = feature_arrays(table, feature_spec.USER_FEATURES)
    vectors = tower_vectors(tower, columns, feature_spec.USER_FEATURES)
    out = pa.table(
        {
            "id": pa.array(columns[feature_spec.USER_ID.name], pa.int64()),
            "vector": pa.array(list(vectors), pa.list_(pa.float32())),
        }
    ).sort_by("id")
    pq.write_table(out, writer.embedding_path(TWO_TOWER_USER))
    log.info("two_tower: user-tower vectors of %d users (dim %d)", len(vectors), vectors.shape[1])
    return {"dim": int(vectors.shape[1]), "count": len(vectors)}


def train_models(
    train: Path, test: Path, writer: BundleWriter, params: PipelineParams, users: Path | None = None
) -> tuple[dict[str, dict], dict[str, BuiltModel]]:
    """:func:`train_and_export`, also returning the trained Keras models (tests compare them to exports).

    Samples are streamed from the Parquet splits (vocabularies in one pass, training and evaluation
    batch by batch), so memory does not grow with the number of samples.
    """
    train_samples, test_samples = ParquetSamples(train), ParquetSamples(test)
    started = time.perf_counter()
    vocab = FeatureVocab.from_batches(train_samples.vocab_batches())
    log.info(
        "model vocabularies %s; %d train / %d test samples; %.1fs",
        vocab.summary(),
        len(train_samples),
        len(test_samples),
        time.perf_counter() - started,
    )
    started = time.perf_counter()
    baselines = evaluate_baselines(train, test)
    log.info("baselines evaluated in %.1fs", time.perf_counter() - started)
    entries: dict[str, dict] = {}
    runs: dict[str, dict] = {}
    models: dict[str, BuiltModel] = {}
    fits: dict[str, TrainResult] = {}
    for name in params.models:
        models[name] = build_seeded(name, vocab, params)
    if params.joint_fit:
        fits = fit_many({n: m.model for n, m in models.items()}, train_samples, test_samples, params)
        log.info("models %s: fitted together in %.1fs", ", ".join(models), next(iter(fits.values())).seconds)
    else:
        for name, built in models.items():
            fits[name] = fit(built.model, train_samples, test_samples, params)
            log.info("model %s: fit %.1fs", name, fits[name].seconds)
    for name, built in models.items():
        entries[name] = export_entry(name, built, writer.model_dir(name))
    started = time.perf_counter()
    y_true, y_probs = predict_many({n: m.model for n, m in models.items()}, test_samples)
    log.info("evaluated %d models on %d test rows in %.1fs", len(models), len(y_true), time.perf_counter() - started)
    for name in params.models:
        runs[name] = record_evaluation(
            name, entries[name], fits[name], y_true, y_probs[name], len(train_samples), params,
            writer.model_dir(name),
        )
    write_report(writer.report_dir, entries, runs, baselines)
    two_tower = models.get(TWO_TOWER_MODEL)
    if users is not None and two_tower is not None and USER_TOWER in two_tower.towers:
        entries[TWO_TOWER_MODEL]["user_embedding"] = {
            TWO_TOWER_USER: write_user_tower_vectors(two_tower.towers[USER_TOWER], users, writer)
        }
    return entries, models


def train_and_export(
    train: Path, test: Path, writer: BundleWriter, params: PipelineParams, users: Path | None = None
) -> dict[str, dict]:
    """Train every model of ``params.models`` on ``train``, evaluate on ``test``, export into ``writer``.

    Returns ``{model name: manifest entry}`` with ``feature_spec``, ``signature``, ``output``,
    ``metrics`` and (two_tower) ``towers`` ``{name: {path (relative to the model dir), ...}}``.
    The baseline's metrics go to the report only (``report/metrics.json["models"]["baseline"]``).
    With ``users`` (the users table), two_tower's entry also has ``user_embedding`` ``{name: {dim,
    count}}``: the vectors :func:`write_user_tower_vectors` wrote into the bundle's embeddings.
    """
    return train_models(train, test, writer, params, users)[0]
