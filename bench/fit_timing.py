"""Time one training epoch of each model at several batch sizes, on part of a pipeline's train split.

``python -m bench.fit_timing TRAIN_DIR [--parts N] [--models deepfm two_tower] [--batch-sizes 4096 16384]``
fits each model from the same seed for one epoch over the first ``N`` part files of
``<artifacts>/work/split/train`` (the streamed input the models step uses) and prints rows/s and the
final training loss per batch size: whether a bigger batch is a cheaper epoch, and at what loss.
``--learning-rates`` crosses the batch sizes with several Adam learning rates, and ``--test-dir``
(the split's ``test``, its first ``--parts`` files) adds each fit's test ROC AUC: the number that
says whether a cheaper epoch is worth its training loss.

``--joint`` instead times the models' epochs one fit after another against one joint fit of them all
(:func:`offline.models.train.fit_many`, what the models step does), at the first batch size.
"""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from pathlib import Path

from bench.split_parts import first_parts
from offline.models.config import ModelConfig
from offline.models.evaluate import binary_metrics
from offline.models.registry import build_model
from offline.models.train import fit, fit_many, predict
from offline.params import PipelineParams


def epoch_rates(
    train_dir: Path,
    parts: int,
    models: list[str],
    batch_sizes: list[int],
    learning_rates: list[float] | None = None,
    test_dir: Path | None = None,
) -> list[dict[str, float | str]]:
    """One row per (model, batch size, learning rate): ``model, batch_size, learning_rate, rows, seconds,
    rows_per_s, loss`` and, with ``test_dir``, ``test_auc`` over its first ``parts`` files."""
    import keras

    rates = learning_rates or [PipelineParams().learning_rate]
    rows: list[dict[str, float | str]] = []
    with first_parts(train_dir, parts) as (samples, vocab), ExitStack() as stack:
        test = stack.enter_context(first_parts(test_dir, parts))[0] if test_dir else None
        for name in models:
            for batch in batch_sizes:
                for rate in rates:
                    keras.utils.set_random_seed(0)
                    model = build_model(name, vocab, ModelConfig()).model
                    result = fit(model, samples, None, PipelineParams(epochs=1, batch_size=batch, learning_rate=rate))
                    row: dict[str, float | str] = {
                        "model": name, "batch_size": batch, "learning_rate": rate, "rows": len(samples),
                        "seconds": result.seconds, "rows_per_s": len(samples) / result.seconds,
                        "loss": result.history["loss"][-1],
                    }
                    if test is not None:
                        row["test_auc"] = binary_metrics(*predict(model, test))["roc_auc"]
                    rows.append(row)
    return rows


def joint_vs_separate(train_dir: Path, parts: int, models: list[str], batch: int) -> dict[str, float]:
    """``{"separate": s, "joint": s, "rows": n}``: one epoch of every model, fitted one by one vs together."""
    import keras

    params = PipelineParams(epochs=1, batch_size=batch)
    with first_parts(train_dir, parts) as (samples, vocab):

        def seeded(name: str) -> keras.Model:
            keras.utils.set_random_seed(0)
            return build_model(name, vocab, ModelConfig()).model

        separate = sum(fit(seeded(name), samples, None, params).seconds for name in models)
        joint = next(iter(fit_many({name: seeded(name) for name in models}, samples, None, params).values()))
        return {"separate": separate, "joint": joint.seconds, "rows": len(samples)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train_dir", type=Path)
    parser.add_argument("--parts", type=int, default=1)
    parser.add_argument("--models", nargs="+", default=["deepfm", "two_tower"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[4096, 16384])
    parser.add_argument("--learning-rates", nargs="+", type=float, default=None)
    parser.add_argument("--test-dir", type=Path, default=None, help="the split's test dir: adds test ROC AUC")
    parser.add_argument("--joint", action="store_true", help="time one joint fit against one fit per model")
    args = parser.parse_args(argv)
    if args.joint:
        t = joint_vs_separate(args.train_dir, args.parts, args.models, args.batch_sizes[0])
        print(f"{len(args.models)} models, batch {args.batch_sizes[0]}, {t['rows']:,} rows: one fit each "
              f"{t['separate']:.1f} s, one joint fit {t['joint']:.1f} s ({t['separate'] / t['joint']:.2f}x)")
        return
    rows = epoch_rates(args.train_dir, args.parts, args.models, args.batch_sizes, args.learning_rates, args.test_dir)
    for row in rows:
        test = f", test ROC AUC {row['test_auc']:.4f}" if "test_auc" in row else ""
        print(f"{row['model']:10s} batch {row['batch_size']:>6} lr {row['learning_rate']:g}: {row['rows']:,} rows in "
              f"{row['seconds']:.1f} s, {row['rows_per_s'] / 1000:.0f}k rows/s, final training loss {row['loss']:.4f}"
              f"{test}")


if __name__ == "__main__":
    main()
