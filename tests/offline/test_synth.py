"""offline.synth: MovieLens layout, exact sizes, power-law popularity and a learnable taste structure."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from offline.synth import GENRES, NO_GENRES, write_synthetic_movielens


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_movielens(tmp_path_factory.mktemp("synth"), users=200, movies=400, ratings=20_000, seed=3)


def test_files_and_headers(synth_dir: Path) -> None:
    headers = {
        "movies.csv": ["movieId", "title", "genres"],
        "ratings.csv": ["userId", "movieId", "rating", "timestamp"],
        "links.csv": ["movieId", "imdbId", "tmdbId"],
        "tags.csv": ["userId", "movieId", "tag", "timestamp"],
    }
    for name, header in headers.items():
        with open(synth_dir / name, newline="") as fh:
            assert next(csv.reader(fh)) == header, name


def test_sizes_ids_and_rating_values(synth_dir: Path) -> None:
    ratings = pd.read_csv(synth_dir / "ratings.csv")
    movies = pd.read_csv(synth_dir / "movies.csv")
    assert len(ratings) == 20_000
    assert ratings["userId"].nunique() == 200
    assert len(movies) == 400 and movies["movieId"].is_unique
    assert set(ratings["movieId"]) <= set(movies["movieId"])
    assert not ratings.duplicated(["userId", "movieId"]).any()
    assert ratings["rating"].between(0.5, 5.0).all()
    assert ((ratings["rating"] * 2) % 1 == 0).all()
    assert 0.35 < (ratings["rating"] >= 3.5).mean() < 0.65


def test_time_ordered_per_user(synth_dir: Path) -> None:
    ratings = pd.read_csv(synth_dir / "ratings.csv")
    assert (ratings.groupby("userId")["timestamp"].diff().dropna() >= 0).all()
    assert ratings["timestamp"].min() > 800_000_000


def test_titles_and_genres(synth_dir: Path) -> None:
    movies = pd.read_csv(synth_dir / "movies.csv")
    assert movies["title"].str.match(r"^.+ \(\d{4}\)$").all()
    assert movies["title"].str.contains(",").any()  # quoted titles exercise the CSV parser
    for genres in movies["genres"]:
        assert genres == NO_GENRES or set(genres.split("|")) <= set(GENRES)


def test_power_law_popularity(synth_dir: Path) -> None:
    counts = pd.read_csv(synth_dir / "ratings.csv")["movieId"].value_counts().to_numpy()
    top = counts[: len(counts) // 10].sum() / counts.sum()
    assert top > 0.2  # the top 10% of movies hold far more than 10% of ratings
    assert counts.max() > 5 * np.median(counts)


def test_latent_structure_is_learnable(synth_dir: Path) -> None:
    """Movie quality is consistent: mean ratings from two disjoint user halves agree."""
    ratings = pd.read_csv(synth_dir / "ratings.csv")
    half = ratings["userId"] % 2 == 0
    a = ratings[half].groupby("movieId")["rating"].mean()
    b = ratings[~half].groupby("movieId")["rating"].mean()
    both = pd.concat([a, b], axis=1, join="inner").dropna()
    assert both.corr().iloc[0, 1] > 0.3


def test_seed_is_deterministic(tmp_path: Path) -> None:
    a = write_synthetic_movielens(tmp_path / "a", users=20, movies=50, ratings=500, seed=11)
    b = write_synthetic_movielens(tmp_path / "b", users=20, movies=50, ratings=500, seed=11)
    c = write_synthetic_movielens(tmp_path / "c", users=20, movies=50, ratings=500, seed=12)
    assert (a / "ratings.csv").read_bytes() == (b / "ratings.csv").read_bytes()
    assert (a / "ratings.csv").read_bytes() != (c / "ratings.csv").read_bytes()


def test_impossible_sizes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_synthetic_movielens(tmp_path, users=10, movies=5, ratings=100)
