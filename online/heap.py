"""Keep the catalogue's long-lived objects out of the cyclic garbage collector's full passes.

A loaded catalogue (movie records, feature arrays, the SavedModels' Python-side objects, FAISS
wrappers) is ~700k objects that live until the next version. CPython's generation-2 collection
walks every tracked object, so each one paused the whole process for ~280 ms on ml-latest-small,
about every 1,000 recommendation requests: every request in flight then waited that long, which
was the service's p99. ``gc.freeze()`` moves the objects alive now into a permanent generation
that collections skip; they are still freed by reference counting as usual.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)


def settle_after_load() -> float:
    """After a catalogue swap: collect what the old version left, then freeze the survivors.

    The previous freeze is undone first, so cycles of the version just replaced are collected
    rather than kept forever in the permanent generation. Returns the seconds it took (one
    full collection, off the request path: reloads run in a worker thread).
    """
    started = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    seconds = time.perf_counter() - started
    log.info("heap: %d objects frozen out of the cyclic GC in %.2f s", gc.get_freeze_count(), seconds)
    return seconds
