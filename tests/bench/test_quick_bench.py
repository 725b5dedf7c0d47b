"""`python -m bench.run --quick` runs a smoke version of every benchmark and writes every table."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.spark
def test_quick_bench_writes_every_table(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-m", "bench.run", "--quick", "--no-redis", "--out", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=1500)
    assert out.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    text = out.read_text()
    for heading in ("## Top-N quality", "## Online latency and throughput", "## Ranking paths", "## ANN indexes",
                    "## Offline pipeline scaling"):
        assert heading in text, f"missing {heading}\n{text[:3000]}"
    for table in ("Top-50 on the temporal split", "Throughput and latency", "Server memory", "recall@100",
                  "Whole pipeline", "Ranking models", "Targets (issue 9)", "Latency under offered load"):
        assert table in text, f"missing table {table!r}"
    assert "(failed)" not in text
    # every recommender of the quality table has a numeric Recall@10
    assert "| ease |" in text and "| popularity |" in text
    assert "| service: deepfm" in text
    ranking = text.split("## Ranking paths")[1].split("## ")[0]
    assert "| deepfm |" in ranking  # a measured row per model
    stages = dict(re.findall(r"^\| (user state|context|recall|rank|recommend\(\)) \| ([0-9.]+) \|$", ranking, re.M))
    assert len(stages) == 5 and float(stages["recommend()"]) > float(stages["rank"]) > 0, ranking
    # the open-loop row: an offered rate, the fraction asked for, a measured p99 and the send lag
    open_rows = re.findall(r"^\| file \| ([0-9.]+) \| 0\.50 \| [0-9.]+ \| .* \| ([0-9.]+) \([0-9.]+–[0-9.]+\) "
                           r"\| ([0-9.]+) \| [0-9]+ \|$", text, re.M)
    assert open_rows and all(float(x) > 0 for x in open_rows[0]), text
    assert float(open_rows[0][2]) < float(open_rows[0][1])  # the client's lag is part of the latency
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "img" / "bench-ann.png").is_file()
