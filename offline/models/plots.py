"""Report plots (PNG, matplotlib's Agg backend so no display is needed)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROC_PNG = "roc.png"
TRAINING_PNG = "training.png"
CALIBRATION_PNG = "calibration.png"


def plot_roc(curves: Mapping[str, Mapping[str, Any]], path: Path) -> Path:
    """All ROC curves on one chart; ``curves[name] = {"fpr", "tpr", "auc", "baseline": bool}``."""
    fig, ax = plt.subplots(figsize=(6, 5))
    for name, c in curves.items():
        style = "--" if c.get("baseline") else "-"
        ax.plot(c["fpr"], c["tpr"], style, label=f"{name} (AUC {c['auc']:.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey", label="random")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC on the time-split test set")
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_training(runs: Mapping[str, Mapping[str, Any]], path: Path) -> Path:
    """Training loss (running, per batch) and test loss per epoch of every model.

    ``runs[name] = {"batch_curve": [(epoch progress, loss)], "history": {"val_loss": [..]}}``.
    """
    fig, (ax_train, ax_val) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, run in runs.items():
        curve = run.get("batch_curve") or []
        if curve:
            x, y = zip(*curve, strict=True)
            ax_train.plot(x, y, label=name)
        val = run.get("history", {}).get("val_loss") or []
        if val:
            ax_val.plot(range(1, len(val) + 1), val, "o-", label=name)
    ax_train.set(xlabel="epoch", ylabel="running train logloss", title="Training loss")
    ax_val.set(xlabel="epoch", ylabel="test logloss", title="Test loss after each epoch (monitoring only)")
    for ax in (ax_train, ax_val):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return _save(fig, path)


def plot_calibration(tables: Mapping[str, list[Mapping[str, Any]]], path: Path) -> Path:
    """Reliability diagram: mean predicted probability vs observed positive rate per bin."""
    fig, ax = plt.subplots(figsize=(6, 5))
    for name, bins in tables.items():
        ax.plot(
            [b["mean_pred"] for b in bins], [b["positive_rate"] for b in bins], "o-", label=name, markersize=3
        )
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfect")
    ax.set(xlabel="mean predicted probability", ylabel="observed positive rate", title="Calibration (test)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
