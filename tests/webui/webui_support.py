"""Constants shared by the web UI tests and their fixtures (a module, because conftest is not importable)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HOSTILE_TITLE = '<script>alert("pwned")</script> & <b>Friends</b>'
HOSTILE_MOVIE_ID = 1
EXPERIMENT = "webui-ranking"
EXPERIMENTS_YAML = f"""\
experiments:
  - name: {EXPERIMENT}
    type: ab
    salt: webui-tests
    variants:
      - {{name: control, weight: 50, model: deepfm}}
      - {{name: treatment, weight: 50, model: two_tower}}
"""

