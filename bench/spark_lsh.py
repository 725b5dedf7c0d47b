"""Spark BucketedRandomProjectionLSH similar lists against exact search: recall@K and time per engine.

The pipeline's ``auto`` similar-list method builds lists *exactly* up to ``exact_max_items`` movies, so
the lists of an ml-latest-small bundle are exact and the recall the pipeline records for them is 1.0 by
construction: it says nothing about LSH. This benchmark runs both engines of
:mod:`offline.similar_lists` (the code the pipeline runs, with its default parameters) on the bundle's
item embeddings: ``lsh_similar`` (the BRP-LSH self-join, the path for catalogues too big to broadcast)
and ``exact_similar`` (blockwise exact cosine against a broadcast matrix), each timed to a materialised
list and scored against exact top-K of a sample of movies computed in numpy on the driver.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.report import Table
from offline.params import PipelineParams
from sparrow.bundle import ITEM_EMBEDDINGS, Bundle, similar_list_for_embedding

QUICK_EMBEDDINGS = ("item2vec",)


def pipeline_methods(manifest: dict[str, Any]) -> dict[str, str]:
    """``{similar list: "exact"|"lsh"}``: the engine the pipeline chose for each list of a bundle."""
    from offline.similar_lists import similar_method

    saved = manifest.get("params", {})
    params = PipelineParams().with_(
        **{k: saved[k] for k in ("similar_method", "exact_max_items") if k in saved}
    )
    counts = manifest.get("embeddings", {})
    return {
        similar_list_for_embedding(name): similar_method(params, int(counts[name]["count"]))
        for name in ITEM_EMBEDDINGS
        if isinstance(counts.get(name), dict) and "count" in counts[name]
    }


def measure(bundle: Bundle, quick: bool, params: PipelineParams | None = None, spark: Any = None) -> list[list[str]]:
    """Rows ``[list, items, engine, join distance, seconds, recall@K]``: both engines per item embedding.

    Without ``spark`` a session is started for the measurement and stopped afterwards (its JVM too).
    """
    from offline.spark_session import get_spark, stop_spark

    params = params or PipelineParams()
    own = spark is None
    spark = get_spark(app_name="sparrow-bench-lsh") if own else spark
    rows: list[list[str]] = []
    try:
        for name in QUICK_EMBEDDINGS if quick else ITEM_EMBEDDINGS:
            if bundle.embedding_path(name).is_file():
                rows += _measure_embedding(spark, bundle, name, params)
    finally:
        if own:
            stop_spark()
    return rows


def _measure_embedding(spark: Any, bundle: Bundle, name: str, params: PipelineParams) -> list[list[str]]:
    import pyspark.sql.functions as F

    from offline.similar_lists import catalogue_matrix, exact_sample, exact_similar, lsh_similar, unit_vectors

    vectors = spark.read.parquet(str(bundle.embedding_path(name)))
    unit = unit_vectors(vectors.select("id", F.col("vector").cast("array<float>").alias("vector"))).persist()
    catalogue = catalogue_matrix(unit)
    check = exact_sample(catalogue, params.similar_top_k, params.lsh_check_sample, params.seed)
    threshold = params.lsh_threshold if params.lsh_threshold is not None else check.threshold()
    shown = [similar_list_for_embedding(name), f"{len(catalogue[0]):,}"]
    lsh_s, lsh_recall = _timed_recall(lambda: lsh_similar(unit, params, threshold), check)
    exact_s, exact_recall = _timed_recall(
        lambda: exact_similar(spark, unit, params.similar_top_k, catalogue=catalogue), check
    )
    unit.unpersist()
    return [
        [*shown, "BRP-LSH", f"{threshold:.3f}", f"{lsh_s:.1f}", f"{lsh_recall:.3f}"],
        [*shown, "exact", "—", f"{exact_s:.1f}", f"{exact_recall:.3f}"],
    ]


def _timed_recall(build: Callable[[], Any], check: Any) -> tuple[float, float]:
    """Seconds to build and materialise one engine's lists, and their recall against ``check``."""
    started = time.perf_counter()
    lists = build().persist()
    lists.count()
    seconds = time.perf_counter() - started
    recall = check.recall(lists)
    lists.unpersist()
    return seconds, recall


def section_tables(bundle: Bundle, quick: bool) -> tuple[list[Table], list[str]]:
    """The ANN section's Spark tables and notes: both engines measured, and what the pipeline built."""
    params = PipelineParams()
    rows = measure(bundle, quick, params)
    k = params.similar_top_k
    tables = [Table(["similar list", "items", "engine", "join distance", "seconds", f"recall@{k} vs exact"], rows,
                    title="Spark similar lists: BucketedRandomProjectionLSH vs exact (offline.similar_lists)")]
    methods = pipeline_methods(bundle.manifest)
    recorded = bundle.manifest.get("metrics", {}).get("lsh_recall_at_k", {})
    notes = [
        f"Both engines with PipelineParams() defaults (LSH: bucket length {params.lsh_bucket_length}, "
        f"{params.lsh_num_tables} tables, join distance = the 95th percentile of the exact {k}-th neighbour's "
        f"distance on the sample); recall@{k} over {params.lsh_check_sample} sampled movies against exact top-{k} "
        "in numpy; seconds to a materialised list, one Spark session (local[*]) started before the first.",
    ]
    if methods:
        built = ", ".join(f"{n} {m} (recall {recorded[n]:.3f})" if n in recorded else f"{n} {m}"
                          for n, m in sorted(methods.items()))
        notes.append(f"The bundle's own lists were built by: {built} — the `auto` method picks exact up to "
                     f"{params.exact_max_items:,} movies, so an exact list's recorded recall is 1.0 by construction.")
    return tables, notes
