"""Every ranking model: exported SavedModel == Keras model, OOV-safe, learns, and is in the bundle."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from offline.models.dataset import load_samples
from offline.models.export import SCORE_OUTPUT, SIGNATURE, as_tensors, load_signature
from offline.params import ALL_MODELS, PipelineParams
from sparrow import feature_spec as fs
from sparrow.bundle import open_bundle

N_CANDIDATES = 500


def _candidate_batch(test_dir, n: int = N_CANDIDATES, seed: int = 0) -> dict[str, np.ndarray]:
    """One user's features repeated over ``n`` candidate movies taken from test rows (some unseen ids)."""
    samples = load_samples(test_dir)
    rng = np.random.default_rng(seed)
    user_row = int(rng.integers(len(samples)))
    user = {f.name: samples.features[f.name][user_row] for f in fs.USER_FEATURES}
    rows = rng.integers(0, len(samples), n)
    movies = {f.name: samples.features[f.name][rows] for f in fs.MOVIE_FEATURES}
    movies[fs.MOVIE_ID.name] = movies[fs.MOVIE_ID.name].copy()
    movies[fs.MOVIE_ID.name][:10] = 10_000_000 + np.arange(10)  # never seen in training
    return fs.serving_batch(user, movies)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_signature_scores_match_keras_in_one_call(trained, name: str) -> None:
    batch = _candidate_batch(trained.test_dir)
    signature = load_signature(trained.bundle.model_dir(name))
    served = signature(**as_tensors(batch))[SCORE_OUTPUT].numpy()
    keras_scores = np.asarray(trained.models[name].model(as_tensors(batch), training=False))
    assert served.shape == (N_CANDIDATES,)
    np.testing.assert_allclose(served, keras_scores, rtol=1e-4, atol=1e-5)
    assert np.all((served > 0) & (served < 1))
    assert served.std() > 0, "a ranking model must tell candidates apart"


@pytest.mark.parametrize("name", ALL_MODELS)
def test_unknown_ids_genres_and_missing_values_score(trained, name: str) -> None:
    n = 4
    batch = fs.serving_batch(
        {
            fs.USER_ID.name: 987_654_321,
            **{f.name: "NoSuchGenre" for f in fs.USER_GENRES},
            **{f.name: 55_555_555 for f in fs.USER_RECENT_MOVIES},
            **{f.name: float("nan") for f in fs.USER_NUMERIC},
        },
        {
            fs.MOVIE_ID.name: np.array([123_456_789, 0, 1, -5]),
            fs.MOVIE_GENRES[0].name: np.array(["Unheard", "", "Drama", "(no genres listed)"], dtype=object),
            fs.MOVIE_NUMERIC[0].name: np.array([np.nan, 0.0, 1e9, -3.0]),
        },
    )
    scores = load_signature(trained.bundle.model_dir(name))(**as_tensors(batch))[SCORE_OUTPUT].numpy()
    assert scores.shape == (n,) and np.all(np.isfinite(scores))


def test_signature_declares_raw_feature_dtypes(trained) -> None:
    loaded = tf.saved_model.load(str(trained.bundle.model_dir("deepfm")))
    _, kwargs = loaded.signatures[SIGNATURE].structured_input_signature
    assert set(kwargs) == {f.name for f in fs.ALL_FEATURES}
    for f in fs.ALL_FEATURES:
        assert kwargs[f.name].dtype == tf.dtypes.as_dtype(f.dtype), f.name
        assert kwargs[f.name].shape.as_list() == [None]
    # JSON ints arrive as Python ints / int32: as_tensors casts them to the signature dtype
    batch = {f.name: [f.default] * 2 for f in fs.ALL_FEATURES}
    out = loaded.signatures[SIGNATURE](**as_tensors(batch))[SCORE_OUTPUT]
    assert out.shape == (2,)


def test_models_learn_the_synthetic_taste_structure(trained) -> None:
    report = json.loads((trained.bundle.report_dir / "metrics.json").read_text())
    baseline_auc = report["models"]["baseline"]["roc_auc"]
    aucs = {name: trained.entries[name]["metrics"]["roc_auc"] for name in ALL_MODELS}
    assert aucs["wide_deep"] > 0.65, aucs
    assert max(aucs.values()) > baseline_auc + 0.05, (aucs, baseline_auc)
    assert sum(a > 0.6 for a in aucs.values()) >= 3, aucs


def test_bundle_holds_models_metrics_and_report(trained) -> None:
    bundle = open_bundle(trained.bundle.path.parent, verify=True)
    assert bundle.models() == sorted(ALL_MODELS)
    for name in ALL_MODELS:
        assert bundle.feature_spec(name) == fs.feature_spec()
        entry = bundle.manifest["models"][name]
        assert entry["signature"] == SIGNATURE and entry["output"] == SCORE_OUTPUT
        metrics = json.loads((bundle.model_dir(name) / "metrics.json").read_text())
        for key in ("roc_auc", "pr_auc", "logloss", "ece", "train_seconds"):
            assert np.isfinite(metrics[key]), (name, key)
        assert len(metrics["history"]["loss"]) == 2 and metrics["batch_curve"]
        assert len(metrics["history"]["val_loss"]) == 2  # two epochs: the test set is monitored after each
    report = json.loads((bundle.report_dir / "metrics.json").read_text())
    assert set(report["models"]) == {*ALL_MODELS, "baseline"}
    assert set(report["baselines"]) == {"movie_avg_rating", "popularity"}
    for png in report["plots"]:
        assert (bundle.report_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_metrics_merge_keeps_other_keys(tmp_path) -> None:
    from offline.models.train_all import write_report

    (tmp_path / "metrics.json").write_text(
        json.dumps({"pipeline": {"rows": 3}, "models": {"old": {"roc_auc": 1}}})
    )
    run = {"roc": {"fpr": [0, 1], "tpr": [0, 1]}, "calibration": [], "history": {}, "batch_curve": []}
    base = {"metrics": {"roc_auc": 0.5, "calibration": []}, "roc": {"fpr": [0, 1], "tpr": [0, 1]}}
    write_report(tmp_path, {"m": {"metrics": {"roc_auc": 0.7}}}, {"m": run}, {"movie_avg_rating": base})
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["pipeline"] == {"rows": 3}
    assert set(report["models"]) == {"old", "m", "baseline"}


def test_a_one_epoch_run_reports_its_final_evaluation_as_the_only_test_point(sample_split, tmp_path) -> None:
    from offline.models.layers import FeatureVocab
    from offline.models.stream import ParquetSamples
    from offline.models.train_all import train_one

    train, test = (ParquetSamples(d) for d in sample_split)
    vocab = FeatureVocab.from_batches(train.vocab_batches())
    params = PipelineParams(models=("neural_cf",), epochs=1, batch_size=256, seed=1)
    _, entry, run = train_one("neural_cf", train, test, vocab, params, tmp_path)
    assert run["history"]["val_loss"] == [entry["metrics"]["logloss"]]  # no separate monitoring pass
    assert len(run["history"]["loss"]) == 1


def test_one_shared_evaluation_pass_equals_eager_calls_per_model(trained, sample_split, caplog) -> None:  # type: ignore[no-untyped-def]
    import logging

    from offline.models.stream import ParquetSamples
    from offline.models.train import predict_many

    test = ParquetSamples(sample_split[1])
    models = {n: b.model for n, b in trained.models.items()}
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        labels, probs = predict_many(models, test, batch_size=300)  # several batches, the last one short
    assert "retracing" not in caplog.text  # each model's forward is traced once, and counted on its own
    for name, model in models.items():
        eager = [np.asarray(model(f, training=False)).reshape(-1) for f, _ in test.to_dataset(300)]
        np.testing.assert_allclose(probs[name], np.concatenate(eager), rtol=1e-5, atol=1e-6)
        assert len(probs[name]) == len(test)
    eager_labels = np.concatenate([label.numpy() for _, label in test.to_dataset(300)])
    np.testing.assert_array_equal(labels, eager_labels)
