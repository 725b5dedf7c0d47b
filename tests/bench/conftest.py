"""``bench/`` is run from the repository root (``python -m bench.run``) and is not an installed package:
put the root on ``sys.path`` so the tests import the real ``bench`` package."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
