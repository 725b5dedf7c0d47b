"""Synthetic MovieLens-shaped data with a latent taste structure (for tests and scale benchmarks).

``write_synthetic_movielens`` writes ``movies.csv``, ``ratings.csv``, ``links.csv`` and
``tags.csv`` exactly as MovieLens lays them out. Ratings come from a small generative model so
that embeddings and ranking models have something real to learn:

* every user and movie has a latent factor vector, every user an affinity per genre;
* score = user·movie + genre affinity + movie bias + noise, mapped to 0.5..5.0 in half stars
  so that about half of the ratings are positive (>= 3.5);
* which movies a user rates follows a power-law popularity (Zipf-like), sampled without
  replacement per user; each user's ratings are spread over time in increasing order.

Everything is vectorised with numpy and written in chunks of users, so 25M ratings fit in memory.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

GENRES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
    "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
NO_GENRES = "(no genres listed)"
_WORDS = (
    "Night", "City", "Love", "Dark", "Return", "Star", "River", "Secret", "Last", "Summer", "King", "Ghost",
    "Dream", "Road", "Fire", "Island", "Shadow", "Heart", "War", "Blue", "Girl", "Man", "House", "Storm",
)
_LATENT_DIM = 8
_USERS_PER_CHUNK = 4096
_T_START = 820_454_400  # 1996-01-01
_T_END = 1_537_747_200  # 2018-09-24


def write_synthetic_movielens(out: Path, users: int, movies: int, ratings: int, seed: int = 42) -> Path:
    """Write a MovieLens-shaped CSV directory to ``out`` and return it.

    ``ratings`` is met exactly (each user rates at least one movie, no user-movie pair twice),
    so it must lie between ``users`` and ``users * movies``.
    """
    if users < 1 or movies < 1:
        raise ValueError("users and movies must be >= 1")
    if not users <= ratings <= users * movies:
        raise ValueError(f"ratings must be between users ({users}) and users*movies ({users * movies})")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    movie_genres = _movie_genres(rng, movies)
    years = rng.integers(1930, 2019, size=movies)
    _write_movies(out / "movies.csv", movie_genres, years, rng)
    _write_links(out / "links.csv", movies, rng)

    # popularity: Zipf-like over a random permutation of movie ids
    popularity = 1.0 / np.arange(1, movies + 1) ** 0.9
    popularity = popularity[rng.permutation(movies)]
    popularity /= popularity.sum()

    movie_factors = rng.normal(0, 1, (movies, _LATENT_DIM)) / np.sqrt(_LATENT_DIM)
    movie_bias = rng.normal(0, 0.3, movies)
    genre_matrix = np.zeros((movies, len(GENRES)), dtype=np.float32)
    for m, gs in enumerate(movie_genres):
        for g in gs:
            genre_matrix[m, g] = 1.0 / len(gs)
    counts = _ratings_per_user(rng, users, movies, ratings)

    tag_rows: list[tuple[int, int, str, int]] = []
    with open(out / "ratings.csv", "w", newline="") as fh:
        fh.write("userId,movieId,rating,timestamp\n")
        for start in range(0, users, _USERS_PER_CHUNK):
            stop = min(users, start + _USERS_PER_CHUNK)
            user_idx, movie_idx = _sample_pairs(rng, counts[start:stop], popularity, offset=start)
            n_chunk = stop - start
            user_factors = rng.normal(0, 1, (n_chunk, _LATENT_DIM)) / np.sqrt(_LATENT_DIM)
            genre_affinity = rng.normal(0, 1.0, (n_chunk, len(GENRES)))
            local = user_idx - start
            score = (
                np.einsum("ij,ij->i", user_factors[local], movie_factors[movie_idx]) * 2.0
                + np.einsum("ij,ij->i", genre_affinity[local], genre_matrix[movie_idx])
                + movie_bias[movie_idx]
                + rng.normal(0, 0.35, len(movie_idx))
            )
            # the score has roughly unit spread and zero median: 3.25 + z rounds to >= 3.5 half the time
            stars = np.clip(np.round((3.25 + score) * 2) / 2, 0.5, 5.0)
            times = _timestamps(rng, counts[start:stop], local)
            _write_ratings_chunk(fh, user_idx + 1, movie_idx + 1, stars, times)
            if len(tag_rows) < 2000:
                pick = rng.choice(len(movie_idx), size=min(len(movie_idx), 50), replace=False)
                tag_rows.extend(
                    (int(user_idx[i] + 1), int(movie_idx[i] + 1), str(rng.choice(_WORDS)).lower(), int(times[i]))
                    for i in pick
                )
    _write_tags(out / "tags.csv", tag_rows)
    return out


def _movie_genres(rng: np.random.Generator, movies: int) -> list[list[int]]:
    weights = rng.dirichlet(np.ones(len(GENRES)) * 0.8)
    n_genres = rng.choice([0, 1, 2, 3], size=movies, p=[0.01, 0.39, 0.35, 0.25])
    return [sorted(rng.choice(len(GENRES), size=k, replace=False, p=weights).tolist()) for k in n_genres]


def _write_movies(path: Path, movie_genres: list[list[int]], years: np.ndarray, rng: np.random.Generator) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["movieId", "title", "genres"])
        for m, gs in enumerate(movie_genres):
            words = rng.choice(_WORDS, size=2, replace=False)
            name = f"{words[0]} {words[1]} {m + 1}"
            if m % 17 == 0:  # MovieLens moves leading articles to the end, which puts commas in titles
                name = f"{name}, The"
            genres = "|".join(GENRES[g] for g in gs) if gs else NO_GENRES
            writer.writerow([m + 1, f"{name} ({int(years[m])})", genres])


def _write_links(path: Path, movies: int, rng: np.random.Generator) -> None:
    imdb = rng.choice(np.arange(100_000, 9_999_999), size=movies, replace=False)
    with open(path, "w", newline="") as fh:
        fh.write("movieId,imdbId,tmdbId\n")
        for m in range(movies):
            fh.write(f"{m + 1},{imdb[m]:07d},{m * 7 + 11}\n")


def _write_tags(path: Path, rows: list[tuple[int, int, str, int]]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["userId", "movieId", "tag", "timestamp"])
        writer.writerows(sorted(rows))


def _ratings_per_user(rng: np.random.Generator, users: int, movies: int, ratings: int) -> np.ndarray:
    """Heavy-tailed ratings per user summing exactly to ``ratings``, each in 1..movies."""
    floor = max(1, min(20, ratings // users // 2))
    weights = rng.lognormal(0.0, 1.0, users)
    counts = np.full(users, floor, dtype=np.int64)
    remaining = ratings - floor * users
    while remaining > 0:
        room = movies - counts
        open_users = room > 0
        share = weights * open_users
        add = np.minimum(np.floor(remaining * share / share.sum()).astype(np.int64), room)
        if add.sum() == 0:  # rounding left a small rest: hand it out one by one
            order = np.flatnonzero(open_users)[: remaining]
            add[order] = 1
        counts += add
        remaining -= int(add.sum())
    return counts


def _sample_pairs(
    rng: np.random.Generator, counts: np.ndarray, popularity: np.ndarray, offset: int
) -> tuple[np.ndarray, np.ndarray]:
    """For each user draw ``counts[u]`` distinct movies by popularity (without replacement)."""
    movies = len(popularity)
    users = np.arange(len(counts))
    chosen_u: list[np.ndarray] = []
    chosen_m: list[np.ndarray] = []
    need = counts.copy()
    have: np.ndarray = np.empty(0, dtype=np.int64)  # encoded pairs user*movies + movie
    for _ in range(4):
        if need.sum() == 0:
            break
        draw = np.ceil(need * 1.5).astype(np.int64) + 4
        u = np.repeat(users, draw)
        m = rng.choice(movies, size=len(u), p=popularity)
        codes = np.unique(u * movies + m)  # sorted by user, deduplicated
        codes = codes[~np.isin(codes, have)]
        rng.shuffle(codes)
        codes = codes[np.argsort(codes // movies, kind="stable")]  # group by user, random order within
        cu = codes // movies
        first = np.searchsorted(cu, users)
        rank = np.arange(len(codes)) - first[cu]
        keep = codes[rank < need[cu]]
        have = np.concatenate([have, keep])
        need -= np.bincount(keep // movies, minlength=len(counts))
        chosen_u.append(keep // movies)
        chosen_m.append(keep % movies)
    # users who need much of the catalogue: popularity rarely reaches the tail, so draw uniformly
    for _ in range(3):
        if need.sum() == 0:
            break
        u = np.repeat(users, need * 2 + 4)
        codes = np.unique(u * movies + rng.integers(0, movies, size=len(u)))
        codes = codes[~np.isin(codes, have)]
        rng.shuffle(codes)
        codes = codes[np.argsort(codes // movies, kind="stable")]
        cu = codes // movies
        rank = np.arange(len(codes)) - np.searchsorted(cu, users)[cu]
        keep = codes[rank < need[cu]]
        have = np.concatenate([have, keep])
        need -= np.bincount(keep // movies, minlength=len(counts))
        chosen_u.append(keep // movies)
        chosen_m.append(keep % movies)
    # the last few (users rating nearly every movie): pick from what they have not rated yet
    for user in np.flatnonzero(need):
        taken = have[have // movies == user] % movies
        rest = rng.choice(np.setdiff1d(np.arange(movies), taken), size=int(need[user]), replace=False)
        chosen_u.append(np.full(len(rest), user))
        chosen_m.append(rest)
    u_all = np.concatenate(chosen_u)
    m_all = np.concatenate(chosen_m)
    order = np.argsort(u_all, kind="stable")
    return u_all[order] + offset, m_all[order]


def _timestamps(rng: np.random.Generator, counts: np.ndarray, local: np.ndarray) -> np.ndarray:
    """Increasing timestamps per user (rows are grouped by user): a start date plus exponential gaps."""
    n_users = len(counts)
    start = rng.integers(_T_START, _T_END - 86_400 * 365, size=n_users)
    gaps = rng.exponential(3 * 3600, size=len(local)) + 1
    # occasional long breaks between sessions
    gaps *= np.where(rng.random(len(local)) < 0.05, 200.0, 1.0)
    cum = np.cumsum(gaps)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    base = np.repeat(cum[first] - gaps[first], counts)
    return np.minimum(start[local] + (cum - base).astype(np.int64), _T_END)


_STARS = np.array([f"{k / 2:.1f}" for k in range(11)])  # "0.0".."5.0", MovieLens' rating format


def _write_ratings_chunk(fh, users: np.ndarray, movies: np.ndarray, stars: np.ndarray, times: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    """Append rows with Arrow's C++ CSV writer (pandas' writer would dominate at 25M rows)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pa.table(
        {
            "userId": pa.array(users, pa.int64()),
            "movieId": pa.array(movies, pa.int64()),
            "rating": pa.array(_STARS[np.rint(stars * 2).astype(np.int64)]),
            "timestamp": pa.array(times, pa.int64()),
        }
    )
    fh.flush()
    with pacsv.CSVWriter(
        fh.buffer if hasattr(fh, "buffer") else fh, table.schema,
        write_options=pacsv.WriteOptions(include_header=False, quoting_style="none"),
    ) as writer:
        writer.write_table(table)
