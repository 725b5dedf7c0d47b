"""The experiments page's inline SVG chart."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from online.schemas import VariantReport
from webui.charts import ctr_chart

SVG = "{http://www.w3.org/2000/svg}"


def _variant(name: str, exposures: int, clicks: int, low: float, high: float) -> VariantReport:
    return VariantReport(name=name, exposures=exposures, clicks=clicks, ctr=clicks / exposures if exposures else 0.0,
                         ci_low=low, ci_high=high)


def test_bars_scale_with_ctr_and_names_are_escaped() -> None:
    root = ET.fromstring(str(ctr_chart([_variant("a<b>", 100, 5, 0.02, 0.11), _variant("b", 100, 10, 0.05, 0.17)], "t")))
    bars = root.findall(f"{SVG}rect")
    assert [b.get("data-variant") for b in bars] == ["a<b>", "b"]
    widths = [float(b.get("width")) for b in bars]  # type: ignore[arg-type]
    assert widths[1] == 2 * widths[0] > 0
    assert "a<b>" in [t.text for t in root.iter(f"{SVG}text")]


def test_variant_without_exposures_draws_no_bar_and_does_not_set_the_scale() -> None:
    root = ET.fromstring(str(ctr_chart([_variant("empty", 0, 0, 0.0, 1.0), _variant("b", 100, 3, 0.01, 0.08)], "t")))
    assert [b.get("data-variant") for b in root.findall(f"{SVG}rect")] == ["b"]
    ticks = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "tick"]
    assert "100%" not in ticks and "10%" in ticks and "no exposures yet" in ticks
