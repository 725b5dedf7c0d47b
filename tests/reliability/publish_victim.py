"""``python publish_victim.py ARTIFACTS VERSION REDIS_URL PREFIX KILL_AT``: the publisher, killed on cue.

Runs ``offline.publish.publish_bundle`` for one bundle version, counting its round trips to Redis
(direct commands and pipeline executions). With ``KILL_AT`` = k > 0 the process SIGKILLs itself
just before round trip k — a crash at a known point of the load, with no cleanup code run. With
``KILL_AT`` = 0 it completes and prints ``ROUND_TRIPS <n> SWITCH_AT <k>`` (k: the round trip that
sets ``current``).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import redis
from redis.client import Pipeline

from sparrow.redis_keys import RedisKeys


def main() -> None:
    artifacts, version, url, prefix, kill_at = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    calls = 0
    switch_at = 0
    current_key = RedisKeys(prefix).current().encode()

    def counted(original: Any) -> Any:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            nonlocal calls, switch_at
            calls += 1
            if calls == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            if args[:1] == ("SET",) and len(args) > 1 and str(args[1]).encode() == current_key:
                switch_at = calls
            return original(self, *args, **kwargs)

        return wrapper

    redis.Redis.execute_command = counted(redis.Redis.execute_command)  # type: ignore[method-assign]
    Pipeline.execute = counted(Pipeline.execute)  # type: ignore[method-assign]

    from offline.publish import publish_bundle
    from sparrow.bundle import open_bundle

    publish_bundle(open_bundle(Path(artifacts), version), url, prefix=prefix, keep=2)
    print(f"ROUND_TRIPS {calls} SWITCH_AT {switch_at}", flush=True)


if __name__ == "__main__":
    main()
