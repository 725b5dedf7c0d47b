"""Interrupted publishes and broken bundles never change what is served.

* Redis: the publisher (a subprocess, ``publish_victim.py``) is SIGKILLed at several points of its
  load into Redis — the first round trip, random ones in between, just before the ``SET current``
  switch. After each kill ``current`` still names the previous complete version, a running service
  (RedisStore) asked to reload keeps serving it, and re-running the publisher completes and the
  service then serves the new version. (A kill after the switch, while old versions are pruned,
  leaves the new complete version live; the re-run completes too.)
* Files: a bundle with a checksum mismatch, a missing file or no manifest (a half-copied directory)
  made ``current`` is refused by the service (FileStore) with a log line naming the version and the
  problem; the old version stays live and keeps answering.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import redis
from reliability_support import ADMIN_TOKEN, PREFIX, REPO, ThreadServer, publish_to_redis

from sparrow.bundle import MANIFEST, read_current, set_current
from sparrow.redis_keys import RedisKeys

VICTIM = Path(__file__).with_name("publish_victim.py")
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
RANDOM_POINTS = 3


def clone_version(artifacts: Path, source: str, version: str) -> str:
    """A complete copy of bundle ``source`` under a new version name (checksums stay valid)."""
    shutil.copytree(artifacts / source, artifacts / version)
    manifest = json.loads((artifacts / version / MANIFEST).read_text())
    manifest["version"] = version
    (artifacts / version / MANIFEST).write_text(json.dumps(manifest))
    return version


def run_publisher(artifacts: Path, version: str, url: str, kill_at: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(VICTIM), str(artifacts), version, url, PREFIX, str(kill_at)],
        capture_output=True, text=True, timeout=180, cwd=REPO,
    )


def redis_current(url: str) -> str | None:
    client = redis.Redis.from_url(url)
    try:
        raw = client.get(RedisKeys(PREFIX).current())
    finally:
        client.close()
    return raw.decode() if raw else None


def served(server: ThreadServer) -> str | None:
    """Ask the service to reload, then return the version it serves (and check it answers)."""
    reload = httpx.post(server.base + "/admin/reload", headers=AUTH, timeout=60)
    assert reload.status_code in (200, 409), reload.text
    ready = httpx.get(server.base + "/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    movie = httpx.get(server.base + "/api/movies/2", timeout=10)
    assert movie.status_code == 200, movie.text
    recs = httpx.get(server.base + "/api/users/3/recommendations?size=5", timeout=30)
    assert recs.status_code == 200 and recs.json()["items"], recs.text
    return ready.json()["version"]


@pytest.mark.redis
@pytest.mark.slow
def test_killed_publisher_never_changes_what_is_served(
    artifacts: Path, redis_url: str, thread_server: Callable[..., ThreadServer]
) -> None:
    base = read_current(artifacts)
    assert base is not None
    live = publish_to_redis(artifacts, redis_url)
    server = thread_server(artifacts, redis_url=redis_url)
    assert served(server) == live

    # how many round trips a complete publish takes (on a throwaway version)
    probe = clone_version(artifacts, base, "probe-version")
    full = run_publisher(artifacts, probe, redis_url, 0)
    assert full.returncode == 0, full.stderr[-3000:]
    words = full.stdout.split()
    trips, switch = int(words[words.index("ROUND_TRIPS") + 1]), int(words[words.index("SWITCH_AT") + 1])
    assert 2 <= switch <= trips, full.stdout
    live = probe
    assert redis_current(redis_url) == live and served(server) == live

    # kill points: the first round trip, random ones in the load, the switch itself (killed just before
    # `SET current` is sent), and one after the switch (during pruning: the new version is then live)
    rng = random.Random(20240611)
    inside = rng.sample(range(2, switch), min(RANDOM_POINTS, max(switch - 2, 0)))
    points = sorted({1, *inside, switch, *([rng.randrange(switch + 1, trips + 1)] if trips > switch else [])})
    print(f"\npublish: {trips} round trips, `current` switched at {switch}; killing at {points}")
    for n, point in enumerate(points):
        version = clone_version(artifacts, base, f"killed-{n}-at-{point}")
        killed = run_publisher(artifacts, version, redis_url, point)
        assert killed.returncode == -9, f"not killed at {point}/{trips}: rc={killed.returncode} {killed.stderr[-2000:]}"
        expected = live if point <= switch else version
        assert redis_current(redis_url) == expected, f"killed at {point}/{trips}: current is not {expected}"
        assert served(server) == expected, f"killed at {point}/{trips}: the service does not serve {expected}"
        rerun = run_publisher(artifacts, version, redis_url, 0)
        assert rerun.returncode == 0, f"re-run after a kill at {point}: {rerun.stderr[-3000:]}"
        assert redis_current(redis_url) == version
        assert served(server) == version, f"re-run after a kill at {point}: the service did not take {version}"
        live = version


# --- broken bundles on disk --------------------------------------------------------------------------


def _flip_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    path.write_bytes(bytes(data))


def _checksum_mismatch(bundle: Path) -> str:
    _flip_bytes(bundle / "movies.parquet")
    return "checksum mismatch"


def _missing_file(bundle: Path) -> str:
    (bundle / "embeddings" / "item2vec.parquet").unlink()
    return "missing file"


def _no_manifest(bundle: Path) -> str:
    (bundle / MANIFEST).unlink()
    return "incomplete"


@pytest.mark.parametrize("damage", [_checksum_mismatch, _missing_file, _no_manifest], ids=lambda f: f.__name__[1:])
def test_broken_bundle_is_refused_and_the_old_one_stays_live(
    artifacts: Path, thread_server: Callable[..., ThreadServer], caplog: pytest.LogCaptureFixture,
    damage: Callable[[Path], str],
) -> None:
    live = read_current(artifacts)
    assert live is not None
    server = thread_server(artifacts)
    assert served(server) == live
    broken = clone_version(artifacts, live, "broken-version")
    expected = damage(artifacts / broken)
    if (artifacts / broken / MANIFEST).is_file():
        set_current(artifacts, broken)
    else:  # set_current itself refuses a bundle without manifest; a hand-edited pointer does not
        (artifacts / "current").write_text(broken + "\n")

    with caplog.at_level(logging.ERROR):
        reload = httpx.post(server.base + "/admin/reload", headers=AUTH, timeout=60)
    assert reload.status_code == 409, reload.text
    assert reload.json()["error"]["code"] == "reload_refused"
    assert broken in reload.json()["error"]["message"] and expected in reload.json()["error"]["message"]
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(broken in m and expected in m and live in m for m in logged), logged  # says what stays live
    # still serving the old version, and /readyz says so
    assert served(server) == live
    assert httpx.get(server.base + "/readyz").json()["version"] == live
    # a later good publish is taken again
    set_current(artifacts, clone_version(artifacts, live, "good-version"))
    assert served(server) == "good-version"
