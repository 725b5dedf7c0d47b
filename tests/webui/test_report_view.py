"""The report page's layout of an arbitrary metrics.json."""

from __future__ import annotations

from webui.report_view import fmt, metric_tables

REPORT = {
    "version": "v1",
    "models": {"deepfm": {"roc_auc": 0.712345, "pr_auc": 0.6}, "din": {"roc_auc": 0.7, "logloss": 0.61}},
    "pipeline": {"steps": [{"name": "ingest", "seconds": 1.25, "rows_in": 100_000, "rows_out": 99_990}],
                 "spark_master": "local[2]"},
    "data": {"row_counts": {"movies": 10, "ratings": 100}, "quarantine": {"ratings.csv": {"bad_rating": 2}}},
    "plots": ["roc.png"],
}


def test_records_become_one_table_with_a_row_each() -> None:
    tables = {t.title: t for t in metric_tables(REPORT)}
    models = tables["Models"]
    assert models.columns == ["", "roc_auc", "pr_auc", "logloss"]
    assert models.rows == [["deepfm", "0.7123", "0.6", "—"], ["din", "0.7", "—", "0.61"]]
    steps = tables["Pipeline · steps"]
    assert steps.columns == ["", "seconds", "rows_in", "rows_out"]
    assert steps.rows == [["ingest", "1.25", "100,000", "99,990"]]


def test_scalars_and_unrelated_mappings_get_key_value_tables() -> None:
    tables = {t.title: t for t in metric_tables(REPORT)}
    assert tables["Summary"].rows == [["version", "v1"]]
    assert tables["Pipeline"].rows == [["spark_master", "local[2]"]]
    assert tables["Data · row counts"].rows == [["movies", "10"], ["ratings", "100"]]
    assert "plots" not in str([t.rows for t in tables.values()])


def test_fmt() -> None:
    assert fmt(0.123456) == "0.1235" and fmt(123456.7) == "123,457" and fmt(None) == "—"
    assert fmt(True) == "true" and fmt([1, 2]) == "1, 2" and fmt(list(range(10))) == "10 values"
