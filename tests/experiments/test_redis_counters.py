"""Redis counters with a real redis-server: replicas agree, config propagates, a dead Redis fails fast."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest
import redis

from online import schemas
from online.experiments import CountersUnavailable, ExperimentRegistry, RedisCounters
from online.experiments.interleaving import team_draft
from sparrow.redis_keys import RedisKeys
from sparrow.settings import Settings

from .conftest import ab_experiment, interleaving_experiment

pytestmark = pytest.mark.redis

PREFIX = "test:"


def client_for(url: str) -> redis.Redis:
    # the service's client settings: bounded socket operations so a dead Redis never hangs
    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


@pytest.fixture
def clients(redis_url: str) -> Iterator[list[redis.Redis]]:
    made = [client_for(redis_url), client_for(redis_url)]
    yield made
    for c in made:
        c.close()


def replicas(clients: list[redis.Redis], tmp_path, config: list[schemas.Experiment]) -> list[ExperimentRegistry]:  # type: ignore[no-untyped-def]
    path = tmp_path / "exp.json"
    path.write_text("[" + ",".join(e.model_dump_json() for e in config) + "]")
    settings = Settings(experiments_file=path, redis_prefix=PREFIX, exploration_share=0.1)
    return [ExperimentRegistry.from_settings(settings, c) for c in clients]


def test_two_replicas_share_counts_and_credit(clients: list[redis.Redis], tmp_path) -> None:  # type: ignore[no-untyped-def]
    one, two = replicas(clients, tmp_path, [ab_experiment()])
    assert isinstance(one.counters, RedisCounters)
    a = one.assign(21)
    assert a is not None and two.assign(21) == a
    one.record_exposure(a, [1, 2, 3])
    # the click arrives at the other replica: it still knows which variant showed movie 2
    assert two.record_event("rank-ab", None, 2, "click", user_id=21) == a.variant
    assert one.record_event("rank-ab", None, 2, "click", user_id=21) is None  # not credited twice
    rep_one, rep_two = one.report("rank-ab"), two.report("rank-ab")
    assert rep_one == rep_two
    row = next(r for r in rep_one.variants if r.name == a.variant)
    assert (row.exposures, row.clicks) == (3, 1)
    keys = RedisKeys(PREFIX)
    assert int(clients[0].get(keys.ab("rank-ab", a.variant, "exposures"))) == 3
    assert 0 < clients[0].ttl(keys.ab_exposed("rank-ab", 21)) <= 24 * 3600
    # exploration counts every click event on a movie (both replicas wrote to the same hash)
    assert two.movie_stats.counts([1, 2, 4]) == [(1, 0), (1, 2), (0, 0)]


def test_interleaving_across_replicas(clients: list[redis.Redis], tmp_path) -> None:  # type: ignore[no-untyped-def]
    one, two = replicas(clients, tmp_path, [interleaving_experiment()])
    a = one.assign(8)
    assert a is not None
    merged, teams = team_draft([1, 2, 3], [4, 5, 6], 4, random.Random(2))
    one.record_exposure(a, merged, teams)
    b_item = next(m for m in merged if teams[m] == "B")
    assert two.record_event(a.experiment, None, b_item, "click", user_id=8) == "din"
    report = one.report("rank-il")
    rows = {r.name: r for r in report.variants}
    assert (rows["din"].clicks, rows["din"].wins, rows["deepfm"].wins, report.impressions) == (1, 1, 0, 1)


def test_config_put_on_one_replica_reaches_the_other(clients: list[redis.Redis], tmp_path) -> None:  # type: ignore[no-untyped-def]
    one, two = replicas(clients, tmp_path, [ab_experiment()])
    new = ab_experiment(name="all-deepfm", salt="q", weights=(100, 0))
    one.replace_config([new])
    assert two.refresh() is True
    assert two.experiments() == [new]
    assert two.assign(3).experiment == "all-deepfm"  # type: ignore[union-attr]
    # a replica started later adopts the stored config instead of its file
    (late,) = replicas(clients[:1], tmp_path, [ab_experiment()])
    assert late.experiments() == [new]


def test_assign_refreshes_lazily(clients: list[redis.Redis], tmp_path) -> None:  # type: ignore[no-untyped-def]
    one, two = replicas(clients, tmp_path, [ab_experiment()])
    two.refresh_s = 0.0  # look every time (the default is every 10 s)
    one.replace_config([ab_experiment(name="later", salt="l")])
    assert two.assign(1).experiment == "later"  # type: ignore[union-attr]


def test_dead_redis_fails_fast_with_counters_unavailable(own_redis_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    client = client_for(own_redis_server.url)
    try:
        (reg,) = replicas([client], tmp_path, [ab_experiment()])
        a = reg.assign(4)
        assert a is not None
        own_redis_server.stop()
        started = time.monotonic()
        with pytest.raises(CountersUnavailable) as info:
            reg.record_exposure(a, [1, 2])
        assert info.value.status == 503 and "unavailable" in info.value.message
        with pytest.raises(CountersUnavailable):
            reg.record_event("rank-ab", None, 1, "click", user_id=4)
        with pytest.raises(CountersUnavailable):
            reg.report("rank-ab")
        with pytest.raises(CountersUnavailable):
            reg.replace_config([ab_experiment(name="x")])
        # reads that serve recommendations keep working
        assert reg.assign(4) == a
        assert reg.explore([1, 2, 3, 4, 5], [9, 10], rng=random.Random(0), share=0.5) == [1, 2, 3, 4, 5]
        assert [e.name for e in reg.experiments()] == ["rank-ab"]
        assert time.monotonic() - started < 10
    finally:
        client.close()
