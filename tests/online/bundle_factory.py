"""A fast, pure pandas/numpy builder of a contract-complete bundle (no Spark), for online tests.

From MovieLens-shaped CSVs it writes movies/users tables with the feature-contract columns,
structured embeddings (a movie's vector is built from its genres' vectors plus noise, so
similar lists and ANN results mean something), similar lists, a report, and tiny Keras models
over the raw serving features exported through the offline exporter — so ranking is real.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sparrow.bundle import Bundle, new_version, user_embedding_name, write_bundle
from sparrow.feature_spec import (
    MOVIE_FEATURES,
    N_RECENT_MOVIES,
    N_USER_GENRES,
    POSITIVE_RATING,
    USER_FEATURES,
    USER_HISTORY_WINDOW,
    feature_spec,
)

EMB_DIM = 16
TOP_K = 20
RECENT_MAX = 50
_YEAR = re.compile(r"\((\d{4})\)\s*$")


def movies_table(data_dir: Path) -> pd.DataFrame:
    """movies.parquet: title/year split, genre lists, rating stats, links."""
    movies = pd.read_csv(data_dir / "movies.csv")
    ratings = pd.read_csv(data_dir / "ratings.csv")
    stats = ratings.groupby("movieId")["rating"].agg(["mean", "count", "std"]).reset_index()
    years = movies["title"].str.extract(_YEAR)[0]
    out = pd.DataFrame(
        {
            "movieId": movies["movieId"].astype("int64"),
            "title": movies["title"].str.replace(_YEAR, "", regex=True).str.strip(),
            "year": pd.to_numeric(years, errors="coerce").astype("Int64"),
            "genres": [
                [] if g == "(no genres listed)" else str(g).split("|") for g in movies["genres"]
            ],
        }
    ).merge(stats, on="movieId", how="left")
    out = out.rename(columns={"mean": "avgRating", "count": "ratingCount", "std": "ratingStddev"})
    out["avgRating"] = out["avgRating"].fillna(0.0).astype("float64")
    out["ratingCount"] = out["ratingCount"].fillna(0).astype("int64")
    out["ratingStddev"] = out["ratingStddev"].fillna(0.0).astype("float64")
    links_path = data_dir / "links.csv"
    if links_path.is_file():
        links = pd.read_csv(links_path, dtype={"imdbId": str, "tmdbId": str})
        out = out.merge(links, on="movieId", how="left")
    else:
        out["imdbId"], out["tmdbId"] = None, None
    return out


def users_table(ratings: pd.DataFrame, movies: pd.DataFrame) -> pd.DataFrame:
    """users.parquet: the latest user snapshot (features over the last 100 ratings) + recent lists."""
    genres_of = dict(zip(movies["movieId"], movies["genres"], strict=True))
    year_of = dict(zip(movies["movieId"], movies["year"].astype("float64"), strict=True))
    rows = []
    for user_id, group in ratings.sort_values(["userId", "timestamp", "movieId"]).groupby("userId"):
        window = group.tail(USER_HISTORY_WINDOW)
        newest = window.iloc[::-1]
        positives = [int(m) for m in newest.loc[newest["rating"] >= POSITIVE_RATING, "movieId"]]
        counts: dict[str, int] = {}
        for movie_id in positives:
            for genre in genres_of.get(movie_id, []):
                counts[genre] = counts.get(genre, 0) + 1
        top = sorted(counts, key=lambda g: (-counts[g], g))[:N_USER_GENRES]
        years = np.array([year_of.get(int(m), np.nan) for m in window["movieId"]], dtype=float)
        row: dict[str, Any] = {
            "userId": int(user_id),
            "userRatingCount": float(len(window)),
            "userAvgRating": float(window["rating"].mean()),
            "userRatingStddev": float(window["rating"].std(ddof=1)) if len(window) > 1 else 0.0,
            "userAvgReleaseYear": float(np.nanmean(years)) if np.isfinite(years).any() else 0.0,
            "userReleaseYearStddev": float(np.nanstd(years)) if np.isfinite(years).sum() > 1 else 0.0,
            "highestRating": float(window["rating"].max()),
            "lowestRating": float(window["rating"].min()),
            "recentPositives": positives[:RECENT_MAX],
            "recentRatings": [
                {"movieId": int(r.movieId), "rating": float(r.rating), "timestamp": int(r.timestamp)}
                for r in newest.head(RECENT_MAX).itertuples()
            ],
            "ratedMovies": sorted(int(m) for m in group["movieId"]),
        }
        for i in range(N_USER_GENRES):
            row[f"userGenre{i + 1}"] = top[i] if i < len(top) else ""
        for i in range(N_RECENT_MOVIES):
            row[f"userRatedMovie{i + 1}"] = positives[i] if i < len(positives) else 0
        rows.append(row)
    frame = pd.DataFrame(rows)
    missing = {f.name for f in USER_FEATURES} - set(frame.columns)
    assert not missing, missing
    return frame


def structured_embeddings(movies: pd.DataFrame, seed: int) -> np.ndarray:
    """A movie vector = mean of its genres' vectors + noise (movies sharing genres are close)."""
    rng = np.random.default_rng(seed)
    genre_vec: dict[str, np.ndarray] = {}
    out = np.zeros((len(movies), EMB_DIM), dtype=np.float32)
    for row, genres in enumerate(movies["genres"]):
        vecs = [genre_vec.setdefault(g, rng.normal(size=EMB_DIM)) for g in genres] or [rng.normal(size=EMB_DIM)]
        out[row] = np.mean(vecs, axis=0) + 0.35 * rng.normal(size=EMB_DIM)
    return out


def exact_similar(ids: np.ndarray, matrix: np.ndarray, k: int = TOP_K) -> pd.DataFrame:
    norm = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-9)
    sims = norm @ norm.T
    np.fill_diagonal(sims, -np.inf)
    top = np.argsort(-sims, axis=1)[:, :k]
    return pd.DataFrame(
        {
            "movieId": ids.astype("int64"),
            "similar": [ids[row].astype("int64").tolist() for row in top],
            "scores": [sims[i, row].astype("float32").tolist() for i, row in enumerate(top)],
        }
    )


def _write_embedding(path: Path, ids: np.ndarray, matrix: np.ndarray) -> None:
    pd.DataFrame({"id": ids.astype("int64"), "vector": [v.astype("float32").tolist() for v in matrix]}).to_parquet(path)


def tiny_models(movies: pd.DataFrame, users: pd.DataFrame, out: dict[str, Path], seed: int = 0) -> None:
    """Tiny untrained-but-deterministic Keras models over raw features, exported like the offline side."""
    import keras

    from offline.models.export import export_ranking_model, export_tower

    keras.utils.set_random_seed(seed)
    genres = sorted({g for gs in movies["genres"] for g in gs})
    max_id = int(max(movies["movieId"].max(), users["userId"].max())) + 1

    def encode(features: tuple[Any, ...]) -> tuple[dict[str, Any], Any]:
        inputs: dict[str, Any] = {}
        parts = []
        id_emb = keras.layers.Embedding(max_id + 1, 4)
        genre_lookup = keras.layers.StringLookup(vocabulary=genres)
        genre_emb = keras.layers.Embedding(len(genres) + 2, 4)
        for f in features:
            inputs[f.name] = keras.Input(shape=(), dtype=f.dtype, name=f.name)
            if f.dtype == "string":
                parts.append(genre_emb(genre_lookup(inputs[f.name])))
            elif f.dtype == "int64":
                clipped = keras.ops.clip(inputs[f.name], 0, max_id)
                parts.append(id_emb(clipped))
            else:
                parts.append(keras.ops.expand_dims(keras.ops.log1p(keras.ops.abs(inputs[f.name])), -1))
        return inputs, keras.layers.Concatenate()(parts)

    user_in, user_x = encode(USER_FEATURES)
    movie_in, movie_x = encode(MOVIE_FEATURES)
    user_vec = keras.layers.UnitNormalization()(keras.layers.Dense(8)(keras.layers.Dense(16, "relu")(user_x)))
    item_vec = keras.layers.UnitNormalization()(keras.layers.Dense(8)(keras.layers.Dense(16, "relu")(movie_x)))
    hidden = keras.layers.Dense(16, "relu")(keras.layers.Concatenate()([user_x, movie_x]))
    score = keras.layers.Reshape(())(keras.layers.Dense(1, "sigmoid")(hidden))
    all_inputs = {**user_in, **movie_in}
    export_ranking_model(keras.Model(all_inputs, score), out["deepfm"])
    dot = keras.layers.Reshape(())(keras.layers.Dense(1, "sigmoid")(keras.layers.Dot(axes=1)([user_vec, item_vec])))
    export_ranking_model(keras.Model(all_inputs, dot), out["two_tower"])
    export_tower(keras.Model(user_in, user_vec), out["two_tower"] / "user_tower", USER_FEATURES)
    export_tower(keras.Model(movie_in, item_vec), out["two_tower"] / "item_tower", MOVIE_FEATURES)


def build_bundle(data_dir: Path, artifacts: Path, seed: int = 0, with_models: bool = True, version: str | None = None) -> Bundle:
    """Write a complete bundle under ``artifacts`` from the CSVs in ``data_dir`` and make it current."""
    data_dir, artifacts = Path(data_dir), Path(artifacts)
    movies = movies_table(data_dir)
    ratings = pd.read_csv(data_dir / "ratings.csv")
    users = users_table(ratings, movies)
    ids = movies["movieId"].to_numpy(np.int64)
    item2vec = structured_embeddings(movies, seed)
    deepwalk = item2vec + 0.2 * np.random.default_rng(seed + 1).normal(size=item2vec.shape).astype(np.float32)
    als_item = structured_embeddings(movies, seed + 2)
    row_of = {int(m): i for i, m in enumerate(ids)}
    user_ids = users["userId"].to_numpy(np.int64)

    def user_means(matrix: np.ndarray) -> np.ndarray:
        out = np.zeros((len(users), matrix.shape[1]), np.float32)
        for i, pos in enumerate(users["recentPositives"]):
            rows = [row_of[m] for m in pos[:20] if m in row_of]
            if rows:
                out[i] = matrix[rows].mean(axis=0)
        return out

    version = version or new_version(f"{seed:08x}synthetic")
    with write_bundle(artifacts, version) as w:
        movies.to_parquet(w.movies_path)
        users.to_parquet(w.users_path)
        embeddings = {
            "item2vec": (ids, item2vec),
            "deepwalk": (ids, deepwalk),
            "als_item": (ids, als_item),
            "als_user": (user_ids, user_means(als_item)),
            user_embedding_name("item2vec"): (user_ids, user_means(item2vec)),
            user_embedding_name("deepwalk"): (user_ids, user_means(deepwalk)),
        }
        for name, (eids, mat) in embeddings.items():
            _write_embedding(w.embedding_path(name), eids, mat)
            w.manifest["embeddings"][name] = {"rows": len(eids), "dim": int(mat.shape[1])}
        genre_matrix = np.array(
            [[1.0 if g in gs else 0.0 for g in sorted({x for y in movies["genres"] for x in y})] for gs in movies["genres"]],
            dtype=np.float32,
        )
        for name, mat in (("item2vec", item2vec), ("deepwalk", deepwalk), ("als", als_item), ("genre", genre_matrix)):
            exact_similar(ids, mat).to_parquet(w.similar_path(name))
            w.manifest["similar"][name] = {"top_k": TOP_K}
        if with_models:
            paths = {name: w.model_dir(name) for name in ("deepfm", "two_tower")}
            tiny_models(movies, users, paths, seed)
            for name in paths:
                w.manifest["models"][name] = {"feature_spec": feature_spec(), "metrics": {"auc": 0.5}}
        (w.report_dir / "metrics.json").write_text(json.dumps({"models": {"deepfm": {"auc": 0.5}}}))
        (w.report_dir / "roc.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)
        w.manifest["row_counts"] = {"movies": len(movies), "users": len(users), "ratings": len(ratings)}
        return w.commit()
