"""The run report: ``report/metrics.json`` (pipeline part) and a few PNG plots.

``metrics.json`` is shared: the models step writes its ``models`` key, this module its
``pipeline``, ``data``, ``embeddings`` and ``similar`` keys (read-modify-write, so neither
overwrites the other).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

METRICS_JSON = "metrics.json"
STEPS_PNG = "pipeline_steps.png"
LSH_RECALL_PNG = "lsh_recall.png"


def write_pipeline_report(
    report_dir: Path,
    steps: list[dict[str, Any]],
    row_counts: dict[str, int],
    quarantine: dict[str, dict[str, int]],
    embeddings: dict[str, dict[str, int]],
    lsh_recall: dict[str, float],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Merge the pipeline's figures into ``report_dir/metrics.json`` and draw its plots."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / METRICS_JSON
    report = json.loads(path.read_text()) if path.is_file() else {}
    report["pipeline"] = {"steps": steps, **(extra or {})}
    report["data"] = {"row_counts": row_counts, "quarantine": quarantine}
    report["embeddings"] = embeddings
    report["similar"] = {"lsh_recall_at_k": lsh_recall}
    path.write_text(json.dumps(report, indent=2, sort_keys=True, default=str))
    _plot_steps(steps, report_dir / STEPS_PNG)
    if lsh_recall:
        _plot_recall(lsh_recall, report_dir / LSH_RECALL_PNG)
    return path


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _plot_steps(steps: list[dict[str, Any]], out: Path) -> None:
    plt = _pyplot()
    names = [s["step"] for s in steps]
    seconds = [float(s.get("seconds", 0.0)) for s in steps]
    fig, ax = plt.subplots(figsize=(6, 0.4 * len(names) + 1.2))
    ax.barh(names[::-1], seconds[::-1], color="#4c72b0")
    ax.set_xlabel("seconds")
    ax.set_title("Offline pipeline: time per step")
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def _plot_recall(recall: dict[str, float], out: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar(list(recall), list(recall.values()), color="#55a868")
    ax.set_ylim(0, 1)
    ax.set_ylabel("recall@K vs exact search")
    ax.set_title("LSH similar lists")
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)
