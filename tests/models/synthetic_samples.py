"""Synthetic ranking samples with a learnable taste structure (no Spark needed).

Users and movies each belong to one of ``GROUPS`` latent taste groups; a group favours two
genres. A sample is positive with high probability when the user's group matches the movie's
group, so the signal is visible through ids, genre overlap (user top genres vs movie genres)
and the user's recent positive movies (drawn from their own group). Written like Spark output:
a directory of part files plus ``_SUCCESS``, with the columns of ``SAMPLE_COLUMNS``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sparrow.feature_spec import (
    ALL_FEATURES,
    LABEL,
    MOVIE_GENRES,
    MOVIE_ID,
    MOVIE_NUMERIC,
    RATING,
    SAMPLE_COLUMNS,
    TIMESTAMP,
    USER_GENRES,
    USER_ID,
    USER_NUMERIC,
    USER_RECENT_MOVIES,
)

GROUPS = 4
GENRES = ["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Thriller", "Animation"]


def make_samples(
    users: int = 300, movies: int = 400, per_user: int = 30, seed: int = 3
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    user_group = rng.integers(0, GROUPS, users)
    movie_group = rng.integers(0, GROUPS, movies)
    movie_quality = rng.normal(0, 0.5, movies)
    group_genres = [GENRES[2 * g : 2 * g + 2] for g in range(GROUPS)]
    movie_genres = []
    for m in range(movies):
        own = list(rng.permutation(group_genres[movie_group[m]]))[: rng.integers(1, 3)]
        other = [GENRES[i] for i in rng.choice(len(GENRES), 1)]
        movie_genres.append((own + other)[: len(MOVIE_GENRES)])
    movies_of_group = [np.flatnonzero(movie_group == g) + 1 for g in range(GROUPS)]  # ids start at 1

    n = users * per_user
    u = np.repeat(np.arange(users), per_user)
    m = rng.integers(0, movies, n)
    match = user_group[u] == movie_group[m]
    logit = 3.0 * match - 1.5 + movie_quality[m] + rng.normal(0, 0.5, n)
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int32)

    cols: dict[str, np.ndarray] = {
        USER_ID.name: (u + 1).astype(np.int64),
        MOVIE_ID.name: (m + 1).astype(np.int64),
    }
    for i, f in enumerate(MOVIE_GENRES):
        cols[f.name] = np.array(
            [g[i] if len(g) > i else "" for g in (movie_genres[j] for j in m)], dtype=object
        )
    for i, f in enumerate(USER_GENRES):
        cols[f.name] = np.array(
            [
                (group_genres[user_group[x]] + ["", "", ""])[i] if i < 2 or rng.random() < 0.3 else ""
                for x in u
            ],
            dtype=object,
        )
    for i, f in enumerate(USER_RECENT_MOVIES):
        have = rng.random(n) < 0.85 - 0.1 * i  # older slots are more often empty
        cols[f.name] = np.where(have, [rng.choice(movies_of_group[user_group[x]]) for x in u], 0).astype(
            np.int64
        )
    # numeric stats belong to the movie / user (as in real data), not to the sample: per-row noise
    # would only give the id embeddings something to memorise
    movie_stats = {
        MOVIE_NUMERIC[0].name: rng.integers(1, 300, movies),
        MOVIE_NUMERIC[1].name: np.clip(3.4 + movie_quality + rng.normal(0, 0.2, movies), 0.5, 5),
        MOVIE_NUMERIC[2].name: rng.uniform(0.5, 1.2, movies),
        MOVIE_NUMERIC[3].name: rng.integers(1950, 2020, movies),
    }
    numeric = {name: v[m].astype(np.float32) for name, v in movie_stats.items()}
    for f in USER_NUMERIC:
        per_user = rng.normal(50 if "Count" in f.name else 3.5, 1.0, users)
        numeric[f.name] = per_user[u].astype(np.float32)
    cols.update(numeric)
    cols[LABEL] = label
    cols[RATING] = np.where(label == 1, 4.0, 2.5).astype(np.float32)
    cols[TIMESTAMP] = rng.permutation(n).astype(np.int64) + 1_500_000_000
    assert set(cols) == set(SAMPLE_COLUMNS) and len(ALL_FEATURES) + 3 == len(SAMPLE_COLUMNS)
    return cols


def write_split(cols: dict[str, np.ndarray], out: Path, train_fraction: float = 0.8) -> tuple[Path, Path]:
    """Time split into ``out/train`` and ``out/test`` Spark-style directories (2 part files each)."""
    order = np.argsort(cols[TIMESTAMP])
    cut = int(len(order) * train_fraction)
    paths = []
    for name, idx in (("train", order[:cut]), ("test", order[cut:])):
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.table({c: cols[c][idx] for c in SAMPLE_COLUMNS})
        half = table.num_rows // 2
        pq.write_table(table.slice(0, half), folder / "part-00000.snappy.parquet")
        pq.write_table(table.slice(half), folder / "part-00001.snappy.parquet")
        (folder / "_SUCCESS").write_text("")
        paths.append(folder)
    return paths[0], paths[1]
