"""offline.pipeline: a complete, verified bundle from synthetic data; events ingested exactly once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from offline.params import PipelineParams
from offline.pipeline import make_context, run_pipeline, run_step
from sparrow.bundle import (
    CURRENT,
    EVENTS_FILE,
    MANIFEST,
    SIMILAR_LISTS,
    TMP_PREFIX,
    open_bundle,
    read_current,
)
from sparrow.feature_spec import MOVIE_TABLE_COLUMNS, USER_FEATURES, USER_TABLE_EXTRA_COLUMNS
from sparrow.redis_keys import RedisKeys

pytestmark = pytest.mark.spark
ML_LATEST_SMALL = Path(__file__).resolve().parents[2] / "data" / "ml-latest-small"
STEP_NAMES = ["ingest", "features", "split", "embeddings", "similar", "models", "bundle"]


def test_synthetic_bundle_is_complete_and_verified(synthetic_bundle: Path, synthetic_data: Path) -> None:
    bundle = open_bundle(synthetic_bundle)  # verifies every checksum
    assert read_current(synthetic_bundle) == bundle.version
    assert (synthetic_bundle / CURRENT).is_file()
    assert not [p for p in synthetic_bundle.iterdir() if p.name.startswith(TMP_PREFIX)]
    m = bundle.manifest
    assert m["source"]["data_dir"] == str(synthetic_data.resolve())
    assert set(m["source"]["files"]) >= {"movies.csv", "ratings.csv"}
    assert bundle.version.endswith(m["source"]["sha256"][:8])
    assert m["row_counts"]["ratings"] == 12_000 and m["row_counts"]["train"] + m["row_counts"]["test"] == 12_000
    assert m["params"]["epochs"] == PipelineParams.quick().epochs
    assert m["quarantine"] == {}
    assert [s["step"] for s in m["metrics"]["steps"]] == STEP_NAMES[:-1]

    movies = pq.read_table(bundle.movies_path)
    assert tuple(movies.column_names) == MOVIE_TABLE_COLUMNS and movies.num_rows == 300
    users = pq.read_table(bundle.users_path)
    assert set(users.column_names) == {f.name for f in USER_FEATURES} | set(USER_TABLE_EXTRA_COLUMNS)
    assert users.num_rows == 120

    assert {"item2vec", "deepwalk", "node2vec", "als_item", "als_user"} <= set(bundle.embeddings())
    for name, info in m["embeddings"].items():
        table = pq.read_table(bundle.embedding_path(name))
        assert table.column_names == ["id", "vector"] and table.num_rows == info["count"] > 0
        assert str(table.schema.field("vector").type) == "list<element: float>"
        assert len(table.column("vector")[0].as_py()) == info["dim"]
    assert set(bundle.similar_lists()) == set(SIMILAR_LISTS)
    for name in bundle.similar_lists():
        table = pq.read_table(bundle.similar_path(name))
        assert table.column_names == ["movieId", "similar", "scores"]
    for name, recall in m["metrics"]["lsh_recall_at_k"].items():
        assert 0.0 <= recall <= 1.0, name
    assert bundle.models() and all(bundle.model_dir(n).is_dir() for n in bundle.models())

    report = json.loads((bundle.report_dir / "metrics.json").read_text())
    assert [s["step"] for s in report["pipeline"]["steps"]] == STEP_NAMES[:-1]
    assert report["similar"]["lsh_recall_at_k"] == m["metrics"]["lsh_recall_at_k"]
    assert (bundle.report_dir / "pipeline_steps.png").is_file()
    assert (bundle.path / MANIFEST).is_file()


def _events(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def _ingest_count(ctx) -> int:  # type: ignore[no-untyped-def]
    run_step(ctx, "ingest")
    return int(ctx.work.read_summary("ingest")["row_counts"]["ratings"])


def test_file_events_are_ingested_exactly_once(spark, tmp_path: Path, synthetic_data: Path) -> None:  # type: ignore[no-untyped-def]
    artifacts = tmp_path / "art"
    artifacts.mkdir()
    ctx = make_context(synthetic_data, artifacts, spark=spark, include_events=True)
    base = _ingest_count(ctx)
    new = {"type": "rating", "userId": 1, "movieId": 299, "rating": 4.5, "timestamp": 2_000_000_000}
    rows = [new, dict(new), {"type": "click", "userId": 1, "movieId": 5, "timestamp": 2_000_000_001},
            {"type": "rating", "userId": 1, "movieId": 300, "rating": 9.0, "timestamp": 2_000_000_002}]
    (artifacts / EVENTS_FILE).write_text(_events(rows))
    first = _ingest_count(ctx)
    again = _ingest_count(ctx)
    summary = ctx.work.read_summary("ingest")
    # user 1 may already have rated movie 299: then the event replaces that rating
    assert first in (base, base + 1) and again == first
    assert summary["quarantine"]["events"] == {"duplicate": 1, "bad_rating": 1}
    ratings = spark.read.parquet(str(ctx.work.ratings)).where("userId = 1 AND movieId = 299").collect()
    assert [(r["rating"], r["timestamp"]) for r in ratings] == [(4.5, 2_000_000_000)]
    assert summary["source"]["events"] == 4 and "events" in summary["source"]["files"]


@pytest.mark.redis
def test_redis_stream_events_are_ingested(spark, tmp_path: Path, synthetic_data: Path, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    import redis

    client = redis.Redis.from_url(redis_url)
    client.xadd(RedisKeys("sparrow:").events(),
                {"type": "rating", "userId": 5, "movieId": 7, "rating": "5.0", "timestamp": 2_100_000_000})
    client.close()
    ctx = make_context(synthetic_data, tmp_path / "art", spark=spark, include_events=True, redis_url=redis_url)
    run_step(ctx, "ingest")
    rows = spark.read.parquet(str(ctx.work.ratings)).where("userId = 5 AND movieId = 7").collect()
    assert [(r["rating"], r["timestamp"]) for r in rows] == [(5.0, 2_100_000_000)]
    assert ctx.work.read_summary("ingest")["row_counts"]["events_read"] == 1


@pytest.mark.slow
def test_end_to_end_on_ml_latest_small(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if not (ML_LATEST_SMALL / "ratings.csv").is_file():
        pytest.skip("data/ml-latest-small is not present")
    params = PipelineParams.quick().with_(models=("emb_mlp",), epochs=1)
    bundle = run_pipeline(ML_LATEST_SMALL, tmp_path / "art", spark=spark, params=params, progress=False)
    assert open_bundle(tmp_path / "art").version == bundle.version
    assert bundle.manifest["row_counts"]["ratings"] == 100_836
    assert bundle.manifest["row_counts"]["movies_table"] == 9_742
    assert bundle.models() == ["emb_mlp"]
    shutil.rmtree(tmp_path / "art" / "work", ignore_errors=True)
