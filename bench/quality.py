"""Top-N quality on a temporal split: baselines vs the service's own recommendation path.

Baselines (``bench.baselines``) are fit on the training positives. The service is measured through
the code that serves requests: a bundle is built by the real offline pipeline from the training
part only (train CSVs in a temp data dir), a ``RecommenderService`` is created over it for every ANN
index setting, and ``recommend()`` is called for each test user with every ranking model of the
bundle. All recommenders are scored with the same metrics (``bench.metrics``) on the same users.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.baselines import EASE, ImplicitALS, ItemKNN, Popularity, RandomScores, Recommender, recommend_top_k
from bench.metrics import TOPN_HEADERS, TopNScores, evaluate_topn
from bench.report import Section, Table, plt_or_none, save_figure
from bench.split import TemporalSplit, temporal_split, write_train_dir
from sparrow.bundle import Bundle

LIST_SIZE = 50
log = logging.getLogger(__name__)


BLEND_WEIGHT = 0.5  # the ranking-popularity blend weight also measured (SPARROW_RANK_POPULARITY_WEIGHT)


def baseline_models(quick: bool) -> list[Recommender]:
    """The baselines, sized for the data (fewer ALS iterations in quick mode)."""
    return [
        RandomScores(),
        Popularity(),
        ItemKNN(neighbours=100),
        ImplicitALS(factors=16 if quick else 64, iterations=3 if quick else 10),
        EASE(l2=50.0 if quick else 200.0),
    ]


def evaluate_baselines(split: TemporalSplit, quick: bool, ease_max_items: int | None) -> list[tuple[str, TopNScores,
                                                                                                   float]]:
    """Fit every baseline on the training positives; ``(name, scores, fit+predict seconds)`` each."""
    positives, seen = split.matrices()
    row_of = {int(u): i for i, u in enumerate(split.user_ids)}
    users = [u for u in split.test if u in row_of]
    rows = np.array([row_of[u] for u in users], dtype=np.int64)
    truth = {u: split.test[u] for u in users}
    out = []
    for model in baseline_models(quick):
        t0 = time.perf_counter()
        X, cols = positives, np.arange(positives.shape[1])
        if isinstance(model, EASE):
            # EASE inverts an items x items matrix: only items with a training positive can get a
            # non-zero score, so drop the rest (and keep the most-liked ones when asked to bound it)
            counts = np.asarray(positives.sum(axis=0)).ravel()
            keep = int((counts > 0).sum()) if not ease_max_items else min(ease_max_items, int((counts > 0).sum()))
            cols = np.sort(np.argsort(-counts)[:keep])
            X = positives[:, cols]
        model.fit(X)
        top = recommend_top_k(model, rows, seen[:, cols], LIST_SIZE)
        recs = {u: [int(split.item_ids[cols[j]]) for j in top[i]] for i, u in enumerate(users)}
        out.append((model.name, evaluate_topn(recs, truth, split.catalogue_size), time.perf_counter() - t0))
    return out


def _make_service(artifacts: Path, ann_index: str, popularity_weight: float = 0.0) -> Any:
    """A ``RecommenderService`` over the bundle in ``artifacts`` (FileStore, no A/B) with the given ANN index
    and ranking popularity weight (``SPARROW_RANK_POPULARITY_WEIGHT``)."""
    from online.service import RecommenderService
    from online.store import open_store
    from sparrow.settings import Settings

    settings = Settings(artifacts=artifacts, ann_index=ann_index, redis_url=None,  # type: ignore[arg-type]
                        reload_poll_s=0, experiments_file=None, rank_popularity_weight=popularity_weight)
    service = RecommenderService(settings, open_store(settings))
    result = service.reload()
    if result.version is None:
        raise RuntimeError(f"the service loaded no bundle from {artifacts}: {result.error}")
    return service


def _item_ids(response: Any) -> list[int]:
    items = response.get("items", []) if isinstance(response, dict) else getattr(response, "items", [])
    return [int(i["movieId"] if isinstance(i, dict) else i.movieId) for i in items]


def evaluate_service(artifacts: Path, bundle: Bundle, split: TemporalSplit, ann_kinds: list[str],
                     models: list[str], stale: dict[str, float] | None = None,
                     popularity_weight: float = 0.0) -> list[tuple[str, TopNScores, float]]:
    """Call the service's ``recommend()`` for every test user, per ANN index and ranking model.

    ``popularity_weight`` > 0 blends the popularity prior into the ranking models' order (row names say so).

    ``stale`` (when given) receives, per row name, the share of top-10 slots holding a movie the user
    already rated before the cut (such a movie can never be a test hit: MovieLens has one rating a pair).
    """
    out = []
    users = sorted(split.test)
    for ann in ann_kinds:
        service = _make_service(artifacts, ann, popularity_weight)
        for model in models:
            t0 = time.perf_counter()
            recs = _collect(service.recommend, users, model)
            name = f"service: {model} ({ann}{f', popularity w={popularity_weight:g}' if popularity_weight else ''})"
            out.append((name, evaluate_topn(recs, split.test, split.catalogue_size), time.perf_counter() - t0))
            if stale is not None:
                stale[name] = stale_share(recs, split)
        service.store.close()
    return out


def stale_share(recs: dict[int, list[int]], split: TemporalSplit, k: int = 10) -> float:
    """Mean share of each user's top ``k`` that the user already rated in the training part."""
    rated = split.train.groupby("userId")["movieId"].agg(set).to_dict()
    shares = [len(set(items[:k]) & rated.get(user, set())) / k for user, items in recs.items()]
    return float(np.mean(shares)) if shares else 0.0


def _collect(recommend: Callable[..., Any], users: list[int], model: str) -> dict[int, list[int]]:
    """``user -> recommended movieIds``; a user whose call fails gets an empty list (scores 0), logged."""
    out: dict[int, list[int]] = {}
    failures = 0
    for user in users:
        try:
            out[user] = _item_ids(recommend(user, LIST_SIZE, model=model, explain=False))
        except Exception as exc:  # noqa: BLE001 - counted against the service, not fatal to the bench
            failures += 1
            out[user] = []
            if failures == 1:
                log.warning("recommend(%s, model=%s) failed: %s", user, model, exc)
    return out


def ranking_model_rows(bundle: Bundle) -> list[list[str]]:
    """Test AUC / PR AUC / logloss of every ranking model, as the bundle records them."""
    rows = []
    for name in bundle.models():
        entry = bundle.manifest["models"].get(name, {})
        metrics = entry.get("metrics") or bundle.manifest.get("metrics", {}).get(name, {})
        if not metrics and (bundle.model_dir(name) / "metrics.json").is_file():
            import json

            metrics = json.loads((bundle.model_dir(name) / "metrics.json").read_text())
        test = metrics.get("test", metrics)

        def get(*keys: str, src: dict[str, Any] = test) -> str:
            for k in keys:
                if isinstance(src.get(k), (int, float)):
                    return f"{src[k]:.4f}"
            return "n/a"

        rows.append([name, get("auc", "roc_auc", "test_auc"), get("pr_auc", "prauc", "test_pr_auc"),
                     get("logloss", "log_loss", "test_logloss")])
    return rows


def run(data_dir: Path, quick: bool, work: Path, img_dir: Path,
        build_bundle: Callable[[Path, Path], Bundle | None]) -> tuple[Section, Bundle | None]:
    """The quality section; returns the train-only bundle too (others reuse it)."""
    split = temporal_split(data_dir, max_test_users=None)
    n_test = len(split.test)
    results = evaluate_baselines(split, quick, ease_max_items=2000 if quick else None)
    notes = [f"Data: {data_dir.name}; time cut at the 80% quantile of timestamps; {len(split.train):,} training "
             f"ratings; {n_test} test users (users with training history and ≥1 positive after the cut); "
             f"catalogue {split.catalogue_size:,} movies. Recall@K divides by min(K, |relevant|)."]
    tables: list[Table] = []
    bundle: Bundle | None = None
    artifacts = work / "artifacts-quality"
    try:
        bundle = build_bundle(write_train_dir(data_dir, split, work / "train-data"), artifacts)
    except Exception as exc:  # noqa: BLE001 - the section still reports the baselines
        notes.append(f"Service not measured: the train-only bundle could not be built ({type(exc).__name__}: {exc}).")
    if bundle is not None:
        try:
            from online.pipeline import RECALL_SCORE

            kinds = ["hnsw"] if quick else ["flat", "hnsw", "lsh"]
            models = [*bundle.models(), RECALL_SCORE]  # recall_score: the fused recall order, no ranker
            stale: dict[str, float] = {}
            results += evaluate_service(artifacts, bundle, split, kinds, models, stale)
            results += evaluate_service(artifacts, bundle, split, kinds[:1], list(bundle.models()), None,
                                        popularity_weight=BLEND_WEIGHT)
            notes.append("Share of the service's top-10 slots holding a movie the user already rated before "
                         "the cut (it can never be a hit): "
                         + ", ".join(f"{n.removeprefix('service: ')} {v:.0%}" for n, v in stale.items()
                                     if n.endswith(f"({kinds[0]})")) + ".")
        except ImportError as exc:
            notes.append(f"Service path not measured: {exc} (run `make bench` again once online.service exists).")
        tables.append(Table(["model", "test AUC", "test PR AUC", "test logloss"], ranking_model_rows(bundle),
                            title="Ranking models (from the train-only bundle)"))
    rows = [[name, *s.as_row(), f"{secs:.1f}"] for name, s, secs in results]
    tables.insert(0, Table(["recommender", *TOPN_HEADERS, "seconds"], rows, title=f"Top-{LIST_SIZE} on the "
                           "temporal split"))
    notes += verdict(results)
    img = _plot(results, img_dir)
    return Section("Top-N quality", tables=tables, notes=notes, images=[img] if img else []), bundle


def verdict(results: list[tuple[str, TopNScores, float]]) -> list[str]:
    """Plain statements of where the service loses to a baseline (by Recall@10 and NDCG@10)."""
    base = [(n, s) for n, s, _ in results if not n.startswith("service") and n != "random"]
    service = [(n, s) for n, s, _ in results if n.startswith("service")]
    if not base:
        return []
    best_name, best = max(base, key=lambda x: x[1].ndcg10)
    lines = [f"Strongest baseline by NDCG@10: **{best_name}** (Recall@10 {best.recall10:.4f}, NDCG@10 "
             f"{best.ndcg10:.4f})."]
    for name, s in service:
        beaten = [n for n, b in base if b.ndcg10 > s.ndcg10]
        if beaten:
            lines.append(f"{name} loses to {', '.join(beaten)} on NDCG@10 ({s.ndcg10:.4f} vs best "
                         f"{best.ndcg10:.4f}).")
        else:
            lines.append(f"{name} beats every baseline on NDCG@10 ({s.ndcg10:.4f}).")
    return lines


def _plot(results: list[tuple[str, TopNScores, float]], img_dir: Path) -> Path | None:
    plt = plt_or_none()
    if plt is None or not results:
        return None
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(results) + 1.5))
    names = [n for n, _, _ in results]
    ax.barh(names, [s.recall10 for _, s, _ in results], label="Recall@10")
    ax.barh(names, [s.ndcg10 for _, s, _ in results], height=0.4, label="NDCG@10")
    ax.invert_yaxis()
    ax.set_xlabel("score")
    ax.set_title("Top-N quality on the temporal split")
    ax.legend()
    return save_figure(plt, fig, img_dir, "bench-quality")
