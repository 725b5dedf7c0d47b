"""The bundle step: work-directory Parquet -> one versioned, checksummed bundle (sparrow.bundle layout).

Per-movie and per-user tables are small, so each becomes one Parquet file written with
pyarrow (sorted by id, so the same data gives the same bytes). Per-rating data never comes here.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from offline.params import PipelineParams
from offline.report import write_pipeline_report
from offline.workdir import WorkDir
from sparrow.bundle import Bundle, new_version, prune_versions, write_bundle
from sparrow.feature_spec import MOVIE_TABLE_COLUMNS

KEEP_BUNDLES = 2  # bundles kept on disk: the current one and the one before it


def _single_file(src: Path, dest: Path, sort_key: str, columns: tuple[str, ...] | None = None) -> int:
    """Spark's part files under ``src`` -> one Parquet file ``dest``; returns the row count."""
    if not src.exists():
        raise FileNotFoundError(f"{src} is missing: run the earlier steps first")
    table = pq.read_table(src)
    if columns is not None:
        table = table.select(list(columns))
    if "vector" in table.column_names:  # float32 whatever the producer used
        idx = table.column_names.index("vector")
        table = table.set_column(idx, "vector", table.column("vector").cast(pa.list_(pa.float32())))
    table = table.sort_by([(sort_key, "ascending")]).replace_schema_metadata(None)
    pq.write_table(table, dest)
    return table.num_rows


def assemble_bundle(work: WorkDir, artifacts: Path, params: PipelineParams, steps: list[dict[str, Any]]) -> Bundle:
    """Write ``artifacts/<version>/`` from the work directory, switch ``current`` and prune old bundles."""
    ingest = work.read_summary("ingest")
    features = work.read_summary("features")
    split = work.read_summary("split")
    embeddings = work.read_summary("embeddings")
    similar = work.read_summary("similar")
    models = work.read_summary("models")
    version = new_version(ingest["source"]["sha256"])
    with write_bundle(artifacts, version) as writer:
        movies = _single_file(work.movie_table, writer.movies_path, "movieId", MOVIE_TABLE_COLUMNS)
        users = _single_file(work.users, writer.users_path, "userId")
        emb_info: dict[str, dict[str, int]] = {}
        for name, info in sorted(embeddings["embeddings"].items()):
            count = _single_file(work.embedding(name), writer.embedding_path(name), "id")
            emb_info[name] = {"dim": int(info["dim"]), "count": count}
        sim_info = {
            name: {"count": _single_file(work.similar(name), writer.similar_path(name), "movieId")}
            for name in sorted(similar["lists"])
        }
        # vectors the models step computed (two_tower's user tower), already in the staging directory
        for entry in models["models"].values():
            emb_info.update({n: {"dim": int(i["dim"]), "count": int(i["count"])}
                             for n, i in entry.get("user_embedding", {}).items()})
        # SavedModels, model plots and those vectors were trained into a bundle-shaped staging directory
        for entry in sorted(work.models_stage.iterdir()):
            if entry.is_dir():
                shutil.copytree(entry, writer.tmp / entry.name, dirs_exist_ok=True)
            else:
                shutil.copy2(entry, writer.tmp / entry.name)
        row_counts = {**ingest["row_counts"], **features["row_counts"], **split["row_counts"],
                      "movies_table": movies, "users_table": users}
        recall = {k: float(v) for k, v in similar.get("recall", {}).items()}
        writer.manifest.update(
            {
                "source": ingest["source"],
                "row_counts": row_counts,
                "params": params.as_dict(),
                "quarantine": ingest["quarantine"],
                "metrics": {
                    "time_cut": split["cut"],
                    "train_quantile": split["quantile"],
                    "lsh_recall_at_k": recall,
                    "als": embeddings.get("als", {}),
                    "steps": steps,
                },
                "embeddings": emb_info,
                "similar": sim_info,
                "models": models["models"],
            }
        )
        write_pipeline_report(
            writer.report_dir, steps, row_counts, ingest["quarantine"], emb_info, recall,
            extra={"version": version, "time_cut": split["cut"], "als": embeddings.get("als", {})},
        )
        bundle = writer.commit()
    prune_versions(artifacts, keep=KEEP_BUNDLES)
    return bundle
