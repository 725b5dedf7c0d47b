"""bench.report: ``--merge`` keeps the sections a run did not measure and replaces the ones it did."""

from __future__ import annotations

from pathlib import Path

from bench.report import Section, Table, existing_sections, machine_info, write_report


def test_merge_replaces_measured_sections_in_place_and_keeps_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    write_report(out, [Section("Alpha", notes=["a1"]), Section("Beta", notes=["b1"])], quick=False, command="first")
    write_report(out, [Section("Beta", tables=[Table(["x"], [["2"]])]), Section("Gamma", notes=["g"])],
                 quick=False, command="second", merge=True)
    sections = dict(existing_sections(out.read_text()))
    assert list(sections) == ["Alpha", "Beta", "Gamma"]
    assert "a1" in sections["Alpha"] and "`first`" in sections["Alpha"]
    assert "b1" not in sections["Beta"] and "| 2 |" in sections["Beta"] and "`second`" in sections["Beta"]
    cpu = machine_info()["cpu"]
    assert all(f"cores ({cpu})" in body for body in sections.values())  # each section names its machine
    # a failed re-run replaces its section too (the report must not show stale figures as current)
    write_report(out, [Section("Alpha (failed)", notes=["boom"])], quick=False, command="third", merge=True)
    assert list(dict(existing_sections(out.read_text()))) == ["Alpha (failed)", "Beta", "Gamma"]
    # without --merge the report holds only what this run measured
    write_report(out, [Section("Gamma")], quick=False, command="fourth")
    assert list(dict(existing_sections(out.read_text()))) == ["Gamma"]


def test_merge_stamps_the_sections_of_an_older_report_with_its_date(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    out.write_text("# Benchmarks\n\n- Date: 2026-11-25 05:52 UTC · mode: full · commit: abc\n\n## Old\n\nfigures\n")
    write_report(out, [Section("New")], quick=False, command="new", merge=True)
    sections = dict(existing_sections(out.read_text()))
    assert "_Measured 2026-11-25 05:52 UTC · mode: full · commit: abc" in sections["Old"]
    assert sections["Old"].count("_Measured ") == 1 and "`new`" in sections["New"]
