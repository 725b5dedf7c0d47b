"""bench.profile_online: py-spy raw stacks are attributed to the request's stages, waits left out."""

from __future__ import annotations

import pytest

from bench.profile_online import IDLE, OTHER, classify, stage_shares

ROOT = "Thread._bootstrap (threading.py:1002);WorkerThread.run (anyio/_backends/_asyncio.py:1124)"
RECOMMEND = ROOT + ";RecommenderService.recommend (online/service.py:226)"
RAW = "\n".join([
    RECOMMEND + ";RecommenderService._user_state (online/service.py:175);RedisStore.user_state "
    "(online/store/redis_store.py:124);Pipeline.execute (redis/client.py:1) 10",
    RECOMMEND + ";recall (online/pipeline.py:100);blended_order (online/ranking/blend.py:70) 30",
    RECOMMEND + ";rank (online/pipeline.py:162);quick_execute (tensorflow/execute.py:53) 40",
    RECOMMEND + ";_rec_item (online/service.py:300) 10",
    "main (uvicorn/main.py:459);Runner.run (asyncio/runners.py:118);RequestResponseCycle.run_asgi "
    "(uvicorn/protocols/http/httptools_impl.py:420) 5",
    ROOT + ";Queue.get (queue.py:171);Condition.wait (threading.py:331) 500",
    "main (uvicorn/main.py:459);Runner.run (asyncio/runners.py:118) 300",
    "gc_collect (x.py:1) 5",
    "not a sample line",
])


def test_each_stack_goes_to_its_stage() -> None:
    lines = RAW.splitlines()
    assert classify(lines[0].rpartition(" ")[0]) == "user state (store)"
    assert classify(lines[2].rpartition(" ")[0]) == "rank"
    assert classify(lines[5].rpartition(" ")[0]) == IDLE
    assert classify(lines[7].rpartition(" ")[0]) == OTHER


def test_shares_are_of_the_working_samples() -> None:
    shares = stage_shares(RAW)
    assert shares["user state (store)"] == pytest.approx(0.1)
    assert shares["recall"] == pytest.approx(0.3)
    assert shares["rank"] == pytest.approx(0.4)
    assert shares["rest of recommend()"] == pytest.approx(0.1)
    assert shares["HTTP, middleware, JSON"] == pytest.approx(0.05)
    assert shares[OTHER] == pytest.approx(0.05)
    assert IDLE not in shares and sum(shares.values()) == pytest.approx(1.0)
    assert stage_shares("") == {}
