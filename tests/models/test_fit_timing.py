"""bench/fit_timing.py: one epoch per (model, batch size) over the first part files of a train split."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from bench.fit_timing import epoch_rates, joint_vs_separate
from offline.models.dataset import part_files


def test_epoch_rates_cover_every_model_and_batch_size(sample_split: tuple[Path, Path]) -> None:
    train_dir, _ = sample_split
    first = part_files(train_dir)[0]
    rows = epoch_rates(train_dir, parts=1, models=["emb_mlp", "deepfm"], batch_sizes=[256, 1024])
    assert [(r["model"], r["batch_size"]) for r in rows] == [
        ("emb_mlp", 256), ("emb_mlp", 1024), ("deepfm", 256), ("deepfm", 1024)
    ]
    n = pq.ParquetFile(first).metadata.num_rows  # only the first part file was read
    for row in rows:
        assert row["rows"] == n
        assert float(row["seconds"]) > 0 and float(row["rows_per_s"]) == n / float(row["seconds"])
        assert 0.0 < float(row["loss"]) < 5.0


def test_epoch_rates_cross_learning_rates_and_report_test_auc(sample_split: tuple[Path, Path]) -> None:
    train_dir, test_dir = sample_split
    rows = epoch_rates(train_dir, 1, ["emb_mlp"], [512], learning_rates=[1e-3, 3e-3], test_dir=test_dir)
    assert [(r["batch_size"], r["learning_rate"]) for r in rows] == [(512, 1e-3), (512, 3e-3)]
    for row in rows:
        assert 0.0 <= float(row["test_auc"]) <= 1.0
    # a different learning rate is a different fit, not the same numbers twice
    assert rows[0]["loss"] != rows[1]["loss"]
    assert "test_auc" not in epoch_rates(train_dir, 1, ["emb_mlp"], [512])[0]


def test_joint_vs_separate_times_both_over_the_same_rows(sample_split: tuple[Path, Path]) -> None:
    train_dir, _ = sample_split
    t = joint_vs_separate(train_dir, parts=1, models=["emb_mlp", "neural_cf"], batch=512)
    assert t["rows"] == pq.ParquetFile(part_files(train_dir)[0]).metadata.num_rows
    assert t["separate"] > 0 and t["joint"] > 0
