"""Ranking cost per request: the packed TF path against the generic signature call, in one process.

For real recall outputs of sampled users, every ranking model scores the same candidates three ways:
``packed`` (what the service does: catalogue tensors inside TF, one concrete-function call),
``generic`` (build the 24 named arrays and call ``serving_default``, the previous path) and
``signature only`` (the signature call with inputs already converted: the model's own cost). The
whole ``recommend()`` is timed too. Interleaved repeats and medians, ratios within the same run.

A second table times one request's stages over many users in turn (each user once a pass, as a
service meets them, so no stage runs on caches warmed by the same user's previous call): the
figures behind the README's per-request cost of recall and ranking.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import Section, Table


def _median_ms(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median ms of each callable, calls interleaved so machine noise hits all alike."""
    for fn in fns.values():
        fn()  # warm-up (first call traces/loads)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1000)
    return {k: float(np.median(v)) for k, v in times.items()}


def run(artifacts: Path | None, quick: bool) -> Section:
    """Time the ranking paths on the bundle under ``artifacts`` (FileStore, no server)."""
    from online import pipeline
    from online.ranking.ranker import batch_for_rows
    from online.service import RecommenderService
    from online.store import open_store
    from sparrow.settings import Settings

    if artifacts is None:
        return Section("Ranking paths", notes=["No bundle: nothing to measure."])
    settings = Settings(artifacts=artifacts, reload_poll_s=0)
    service = RecommenderService(settings, open_store(settings))
    service.reload()
    cat = service.catalog()
    users = service.sample_user_ids(5 if quick else 20)
    repeats = 5 if quick else 15
    rows_out: list[list[str]] = []
    for name in cat.model_names:
        ranker = cat.rankers.get(name)
        per: dict[str, list[float]] = {"packed": [], "generic": [], "signature only": [], "recommend()": []}
        sizes = []
        for user_id in users:
            ctx = pipeline.build_context(cat, service._user_state(cat, user_id), settings.ann_index)
            candidates = pipeline.recall(ctx, settings.recall_quotas, settings.max_candidates, 20)
            rows = cat.rows([c.movie_id for c in candidates])
            sizes.append(len(rows))
            args = ranker.inputs(batch_for_rows(ctx.user_features, rows, cat.feature_arrays))
            ms = _median_ms(
                {
                    "packed": lambda r=ranker, c=ctx, rw=rows: r.score_rows(c.user_features, rw, cat.feature_arrays),
                    "generic": lambda r=ranker, c=ctx, rw=rows: r.score(batch_for_rows(c.user_features, rw,
                                                                                       cat.feature_arrays)),
                    "signature only": lambda r=ranker, a=args: r._fn(**a),
                    "recommend()": lambda u=user_id, m=name: service.recommend(u, 20, m),
                },
                repeats,
            )
            for key, value in ms.items():
                per[key].append(value)
        med = {k: float(np.median(v)) for k, v in per.items()}
        rows_out.append([name, f"{int(np.median(sizes))}", *(f"{med[k]:.2f}" for k in per),
                         f"{med['packed'] / med['generic']:.2f}"])
    table = Table(["model", "candidates", "packed ms", "generic ms", "signature only ms", "recommend() ms",
                   "packed / generic"], rows_out, title="Ranking one request's candidates (median over users)")
    notes = [f"{len(users)} users x {repeats} interleaved repeats each, in one process with the FileStore; "
             "packed = the service's path, generic = 24 named arrays through `serving_default` (the previous "
             "path), signature only = the model's own cost with inputs already converted."]
    model, stages, n_users = _stage_ms(service, settings, "deepfm" if "deepfm" in cat.model_names else None, quick)
    stage_table = Table(["stage", "mean ms"], [[k, f"{v:.3f}"] for k, v in stages.items()],
                        title=f"One recommendation's stages ({model}), {n_users} users in turn")
    notes.append("Stages: `user state` (store read), `context` (user features + seen set), `recall` (every "
                 "channel + merge), `rank` (one model call on the candidates + sort), and the whole "
                 "`recommend()` (the four plus the response), each the mean over two passes of the users.")
    return Section("Ranking paths", tables=[table, stage_table], notes=notes)


def _stage_ms(service: Any, settings: Any, model: str | None, quick: bool) -> tuple[str, dict[str, float], int]:
    """The model, mean ms per stage of ``recommend()`` over sampled users in turn, and how many users.

    Three passes over the users; the first only warms (indexes, traced functions) and is not counted.
    """
    from online import pipeline

    cat = service.catalog()
    chosen = model or pipeline.choose_model(cat, None, None, settings.default_model)
    users = service.sample_user_ids(20 if quick else 400)
    totals = dict.fromkeys(("user state", "context", "recall", "rank", "recommend()"), 0.0)
    for lap_no in range(3):
        for user_id in users:
            t0 = time.perf_counter()
            state = service._user_state(cat, user_id)
            t1 = time.perf_counter()
            ctx = pipeline.build_context(cat, state, settings.ann_index)
            t2 = time.perf_counter()
            candidates = pipeline.recall(ctx, settings.recall_quotas, settings.max_candidates, 20)
            t3 = time.perf_counter()
            pipeline.rank(cat, ctx, candidates, chosen)
            t4 = time.perf_counter()
            service.recommend(user_id, 20, chosen)
            t5 = time.perf_counter()
            if lap_no:
                for key, dt in zip(totals, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
                    totals[key] += dt
    return chosen, {k: v / (2 * max(len(users), 1)) * 1000 for k, v in totals.items()}, len(users)
