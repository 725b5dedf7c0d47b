"""The offline CLI: --help for every command, one-line errors with exit status 1 and no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from offline.pipeline import STEPS
from sparrow.cli import app

runner = CliRunner()
OFFLINE_COMMANDS = [*STEPS, "run"]


@pytest.mark.parametrize("command", [["data", "fetch"], ["data", "synth"], *[["offline", c] for c in OFFLINE_COMMANDS]])
def test_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_offline_commands_share_the_options() -> None:
    result = runner.invoke(app, ["offline", "run", "--help"], terminal_width=200)
    for option in ("--data-dir", "--artifacts", "--work-dir", "--spark-master", "--driver-memory", "--redis-url",
                   "--include-events", "--models", "--epochs", "--batch-size", "--learning-rate", "--quick"):
        assert option in result.output, option


def test_missing_data_dir_is_one_line_error(tmp_path: Path) -> None:
    """Run as a real process: the user sees one line on stderr and exit status 1."""
    proc = subprocess.run(
        [sys.executable, "-m", "sparrow.cli", "offline", "ingest", "--data-dir", str(tmp_path / "nope"),
         "--artifacts", str(tmp_path / "art")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "nope" in proc.stderr


def test_missing_earlier_step_is_one_line_error(tmp_path: Path, synthetic_data: Path) -> None:
    result = runner.invoke(app, ["offline", "bundle", "--data-dir", str(synthetic_data),
                                 "--artifacts", str(tmp_path / "art")])
    assert result.exit_code == 1
    assert "error:" in result.output and "Traceback" not in result.output


def test_unknown_model_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["offline", "models", "--models", "nope", "--artifacts", str(tmp_path)])
    assert result.exit_code == 1 and "unknown model" in result.output


def test_learning_rate_reaches_the_params_and_must_be_positive(tmp_path: Path) -> None:
    from offline.cli import _params

    assert _params(None, None, 8192, False, learning_rate=4e-3).learning_rate == 4e-3
    assert _params(None, None, None, False).learning_rate == 1e-3
    result = runner.invoke(app, ["offline", "models", "--learning-rate", "0", "--artifacts", str(tmp_path)])
    assert result.exit_code == 1 and "--learning-rate must be positive" in result.output


def test_synth_command(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "synth", "--users", "10", "--movies", "30", "--ratings", "200",
                                 "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "s" / "ratings.csv").read_text().splitlines()) == 201


def test_scale_run_settings_are_offline_options() -> None:
    """bench/offline_steps.sh passes bench.offline_scaling.SCALE_PARAMS to each step as these options."""
    from dataclasses import replace

    from bench.offline_scaling import SCALE_PARAMS, scale_cli_args
    from offline.cli import _params
    from offline.params import PipelineParams

    args = scale_cli_args()
    help_text = runner.invoke(app, ["offline", "models", "--help"], terminal_width=200).output
    assert all(flag in help_text for flag in args[::2])
    values = dict(zip((f.removeprefix("--").replace("-", "_") for f in args[::2]), args[1::2], strict=True))
    parsed = _params(None, int(values["epochs"]), int(values["batch_size"]), False,
                     learning_rate=float(values["learning_rate"]))
    assert set(values) == set(SCALE_PARAMS)
    assert parsed == replace(PipelineParams(), **SCALE_PARAMS)
