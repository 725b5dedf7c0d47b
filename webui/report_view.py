"""Turn the bundle's ``report/metrics.json`` (any nesting) into tables the report page can show.

The offline side owns the report's content; this module only lays it out, so a new metric or a
new model shows up on the page without touching the web UI:

* a mapping of name -> mapping of scalars (e.g. model -> {roc_auc, pr_auc, logloss}) becomes one
  table with a row per name and a column per metric;
* a mapping of scalars becomes a two-column table;
* a list of mappings becomes a table with a row per item;
* anything deeper is flattened with dotted column names.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from webui.rendering import call

log = logging.getLogger(__name__)

Scalar = str | int | float | bool | None


@dataclass
class Table:
    """A titled table: ``columns`` heads, ``rows`` of display strings (first cell is the row name)."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def fmt(value: Any) -> str:
    """Display a metric: floats with 4 significant digits, large ints grouped, the rest as text."""
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value).lower()
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        if len(value) <= 6 and all(_is_scalar(v) for v in value):
            return ", ".join(fmt(v) for v in value)
        return f"{len(value)} values"
    return str(value)


def _flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping):
            flat.update(_flatten(item, name + "."))
        else:
            flat[name] = item
    return flat


def _rows_table(title: str, rows: list[tuple[str, Mapping[str, Any]]]) -> Table:
    flat_rows = [(name, _flatten(row)) for name, row in rows]
    columns: list[str] = []
    for _, row in flat_rows:
        columns += [c for c in row if c not in columns]
    table = Table(title=title, columns=["", *columns])
    for name, row in flat_rows:
        table.rows.append([name, *(fmt(row.get(c)) for c in columns)])
    return table


def _is_record_set(value: Any) -> bool:
    """A mapping of ≥2 records that share a field (model -> metrics): one table, a row per record."""
    if not isinstance(value, Mapping) or len(value) < 2 or not all(isinstance(v, Mapping) for v in value.values()):
        return False
    fields = [set(v) for v in value.values()]
    return bool(set.intersection(*fields))


def _title(*parts: str) -> str:
    text = " · ".join(str(p).replace("_", " ") for p in parts if p)
    return text[:1].upper() + text[1:]


def _section_tables(path: tuple[str, ...], value: Any, depth: int = 0) -> list[Table]:
    """Tables for one section: rows tables for mappings/lists of records, key-value tables for scalars."""
    if _is_record_set(value):
        return [_rows_table(_title(*path), [(str(k), v) for k, v in value.items()])]
    if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        label = next((k for k in ("name", "step", "model") if all(k in v for v in value)), None)
        named = [
            (str(v[label]) if label else str(i + 1), {k: x for k, x in v.items() if k != label})
            for i, v in enumerate(value)
        ]
        return [_rows_table(_title(*path), named)]
    if not isinstance(value, Mapping):
        return [Table(title=_title(*path), columns=["", "value"], rows=[[path[-1], fmt(value)]])]
    scalars = Table(title=_title(*path), columns=["", "value"])
    nested: list[Table] = []
    for key, item in value.items():
        structured = isinstance(item, Mapping) or (isinstance(item, list) and any(isinstance(v, Mapping) for v in item))
        if structured and depth < 2:
            nested += _section_tables((*path, str(key)), item, depth + 1)
        elif isinstance(item, Mapping):
            scalars.rows += [[f"{key}.{k}", fmt(v)] for k, v in _flatten(item).items()]
        else:
            scalars.rows.append([str(key), fmt(item)])
    return ([scalars] if scalars.rows else []) + nested


def metric_tables(report: Mapping[str, Any]) -> list[Table]:
    """Tables for every section of ``report``; top-level scalars are gathered into one "Summary" table."""
    summary = Table(title="Summary", columns=["", "value"])
    tables: list[Table] = []
    for key, value in report.items():
        if key == "plots":
            continue
        if _is_scalar(value) or (isinstance(value, list) and all(_is_scalar(v) for v in value)):
            summary.rows.append([str(key), fmt(value)])
        else:
            tables += _section_tables((str(key),), value)
    return ([summary] if summary.rows else []) + tables


async def plot_names(service: Any, report: Mapping[str, Any]) -> list[str]:
    """File names of the report's plots: the report's own ``plots`` list, else the service's listing."""
    listed = report.get("plots")
    if isinstance(listed, list):
        return [str(p) for p in listed]
    if isinstance(listed, Mapping):
        return [str(p) for p in listed.values()]
    try:
        # the service names the live bundle's report directory; list the PNGs the offline run wrote there
        report_dir = (await call(service.catalog)).report_dir
        return sorted(p.name for p in report_dir.glob("*.png")) if report_dir is not None else []
    except Exception:  # a missing listing only hides the plots section
        log.warning("cannot list report plots", exc_info=True)
        return []
