"""Time the models step's evaluation: one pass per model (eager 4096-row calls) vs one shared pass.

``python -m bench.eval_timing SPLIT_TEST_DIR [--parts N] [--models emb_mlp deepfm ...]`` builds the
models untrained (evaluation cost does not depend on the weights) over the first ``N`` part files of
a pipeline's test split and times both ways over the same rows, e.g. on
``<artifacts>/work/split/test`` of the ML-25M-shaped run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.split_parts import first_parts
from offline.models.config import ModelConfig
from offline.models.registry import build_model
from offline.models.stream import ParquetSamples
from offline.models.train import predict_many
from offline.params import ALL_MODELS


def per_model_eager(models: dict, samples: ParquetSamples, batch_size: int = 4096) -> dict[str, np.ndarray]:
    """The previous evaluation: a pass over the samples per model, eager calls of 4096 rows."""
    out = {}
    for name, model in models.items():
        out[name] = np.concatenate(
            [np.asarray(model(f, training=False)).reshape(-1) for f, _ in samples.to_dataset(batch_size)]
        )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("test_dir", type=Path)
    parser.add_argument("--parts", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=list(ALL_MODELS))
    args = parser.parse_args(argv)
    with first_parts(args.test_dir, args.parts) as (samples, vocab):
        models = {n: build_model(n, vocab, ModelConfig()).model for n in args.models}
        start = time.perf_counter()
        before = per_model_eager(models, samples)
        eager = time.perf_counter() - start
        start = time.perf_counter()
        _, after = predict_many(models, samples)
        shared = time.perf_counter() - start
    for name in models:  # the same scores either way
        np.testing.assert_allclose(before[name], after[name], rtol=1e-4, atol=1e-5)
    print(f"{len(samples):,} rows, {len(models)} models: one eager pass per model {eager:.1f} s, "
          f"one shared compiled pass {shared:.1f} s ({eager / shared:.1f}x)")


if __name__ == "__main__":
    main()
