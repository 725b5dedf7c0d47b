"""bench.offline_scaling: each size's run is saved, and ``reuse`` reports a saved run instead of repeating it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bench import offline_scaling
from bench.offline_scaling import PipelineRun, load_run, save_run


def _run(name: str, ok: bool = True) -> PipelineRun:
    return PipelineRun(name, 2_500_000, 1040.5, 3 * 2**30, Path("/x/artifacts"), ok=ok,
                       steps={"ingest": 94.0, "models": 306.0}, error="" if ok else "exit 1")


def test_a_saved_run_loads_back_stamped_with_its_date_and_commit(tmp_path: Path) -> None:
    saved = save_run(_run("2.5m"), tmp_path / "run-2.5m.json")
    assert "commit" in saved.measured
    loaded = load_run(tmp_path / "run-2.5m.json")
    assert loaded == saved and loaded.artifacts == Path("/x/artifacts") and loaded.steps["models"] == 306.0
    (tmp_path / "bad.json").write_text('{"name": 1}')
    assert load_run(tmp_path / "bad.json") is None and load_run(tmp_path / "missing.json") is None


def test_reuse_reports_saved_runs_and_measures_only_the_missing_sizes(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    save_run(_run("2.5m"), tmp_path / "run-2.5m.json")
    save_run(_run("tiny", ok=False), tmp_path / "run-tiny.json")  # a failed run is measured again
    measured: list[str] = []

    def fake_measure(name: str, *args: object, **kwargs: object) -> PipelineRun:
        measured.append(name)
        return _run(name)

    monkeypatch.setattr(offline_scaling, "run_pipeline_measured", fake_measure)
    section = offline_scaling.run(["tiny", "2.5m"], quick=True, work=tmp_path, img_dir=tmp_path, ml_small=None,
                                  reuse=True)
    assert measured == ["tiny"]
    assert any("2.5m: the run measured" in n for n in section.notes)
    assert load_run(tmp_path / "run-tiny.json").ok  # the new measurement replaced the failed one
    offline_scaling.run(["2.5m"], quick=True, work=tmp_path, img_dir=tmp_path, ml_small=None)
    assert measured == ["tiny", "2.5m"]  # without reuse every size is measured


def test_a_run_that_shared_the_machine_says_so_in_the_report(tmp_path: Path) -> None:
    idle = replace(_run("ml-latest-small"), cpu={"tree": 0.93, "other": 0.02, "steal": 0.01, "cores": 2})
    busy = replace(_run("2.5m"), cpu={"tree": 0.55, "other": 0.38, "steal": 0.05, "cores": 2})
    old = _run("25m")  # saved before CPU shares were measured
    section = offline_scaling.section_from_runs([idle, busy, old], [], tmp_path, quick=False)
    whole = section.tables[0]
    assert whole.headers[4:7] == ["CPU: run", "CPU: other processes", "CPU: steal"]
    assert whole.rows[0][4:7] == ["93%", "2%", "1%"] and whole.rows[2][4:7] == ["—", "—", "—"]
    shared = [n for n in section.notes if "shared the machine" in n]
    assert len(shared) == 1 and "2.5m" in shared[0] and "38%" in shared[0]
    save_run(busy, tmp_path / "run-2.5m.json")
    reloaded = load_run(tmp_path / "run-2.5m.json")
    assert reloaded is not None and reloaded.cpu == busy.cpu
