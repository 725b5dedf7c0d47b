"""bench.spark_lsh: both similar-list engines measured on a bundle's embeddings, labelled by engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.spark_lsh import measure, pipeline_methods
from offline.params import PipelineParams
from sparrow.bundle import open_bundle


def test_pipeline_methods_names_the_engine_auto_picked_for_each_list() -> None:
    manifest = {
        "params": {"similar_method": "auto", "exact_max_items": 1000},
        "embeddings": {"item2vec": {"count": 900}, "als_item": {"count": 5000}, "als_user": {"count": 50}},
    }
    assert pipeline_methods(manifest) == {"item2vec": "exact", "als": "lsh"}
    manifest["params"]["similar_method"] = "lsh"
    assert pipeline_methods(manifest) == {"item2vec": "lsh", "als": "lsh"}


@pytest.mark.spark
def test_both_engines_are_timed_and_scored_against_exact_search(synthetic_bundle: Path, spark) -> None:  # type: ignore[no-untyped-def]
    bundle = open_bundle(synthetic_bundle, verify=False)
    params = PipelineParams.quick().with_(similar_top_k=10)
    rows = measure(bundle, quick=True, params=params, spark=spark)
    assert [r[2] for r in rows] == ["BRP-LSH", "exact"]
    lsh, exact = rows
    assert lsh[0] == exact[0] == "item2vec" and int(lsh[1].replace(",", "")) > params.similar_top_k
    assert float(exact[5]) == 1.0  # the exact engine agrees with the numpy check
    assert 0.0 < float(lsh[5]) <= 1.0 and float(lsh[3]) > 0.0
    assert float(lsh[4]) > 0.0 and float(exact[4]) > 0.0
    assert not spark.sparkContext._jsc.sc().isStopped()  # a caller's session is left running
