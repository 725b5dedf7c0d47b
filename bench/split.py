"""Temporal train/test split of MovieLens ratings for top-N evaluation.

Train = every rating before a global time cut (a quantile of the timestamps, like the offline
pipeline's ``train_quantile``). Test = for each user who also has training ratings, the movies
they rated positively (>= 3.5) after the cut. Users with no training history are left out (no
collaborative baseline can serve them; the service would fall back to popular for them).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from sparrow.feature_spec import POSITIVE_RATING


@dataclass
class TemporalSplit:
    """Training ratings, test positives per user, and the index maps of the training matrix."""

    train: pd.DataFrame
    test: dict[int, set[int]]  # userId -> positive movieIds after the cut
    cut: int
    user_ids: np.ndarray  # row -> userId
    item_ids: np.ndarray  # column -> movieId (every movie of movies.csv)

    @property
    def catalogue_size(self) -> int:
        return int(self.item_ids.size)

    def matrices(self) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """(positives, seen): user x item CSR of training positives, and of every training rating."""
        urow = pd.Index(self.user_ids).get_indexer(self.train["userId"])
        icol = pd.Index(self.item_ids).get_indexer(self.train["movieId"])
        shape = (self.user_ids.size, self.item_ids.size)
        pos = (self.train["rating"].to_numpy() >= POSITIVE_RATING).astype(np.float32)
        positives = sp.csr_matrix((pos, (urow, icol)), shape=shape)
        positives.eliminate_zeros()
        seen = sp.csr_matrix((np.ones(len(urow), dtype=np.float32), (urow, icol)), shape=shape)
        return positives, seen


def temporal_split(data_dir: Path, train_quantile: float = 0.8, max_test_users: int | None = None,
                   seed: int = 0) -> TemporalSplit:
    """Split ``data_dir/ratings.csv`` at the ``train_quantile`` of timestamps (see module docstring)."""
    ratings = pd.read_csv(Path(data_dir) / "ratings.csv")
    movies = pd.read_csv(Path(data_dir) / "movies.csv", usecols=["movieId"])
    cut = int(np.quantile(ratings["timestamp"].to_numpy(), train_quantile))
    train = ratings[ratings["timestamp"] < cut]
    after = ratings[(ratings["timestamp"] >= cut) & (ratings["rating"] >= POSITIVE_RATING)]
    warm = set(train["userId"].unique())
    after = after[after["userId"].isin(warm)]
    test = {int(u): set(int(m) for m in g) for u, g in after.groupby("userId")["movieId"]}
    if max_test_users is not None and len(test) > max_test_users:
        rng = np.random.default_rng(seed)
        keep = rng.choice(sorted(test), size=max_test_users, replace=False)
        test = {int(u): test[int(u)] for u in keep}
    item_ids = np.union1d(movies["movieId"].to_numpy(), ratings["movieId"].unique())
    return TemporalSplit(
        train=train.reset_index(drop=True),
        test=test,
        cut=cut,
        user_ids=np.sort(train["userId"].unique()),
        item_ids=item_ids,
    )


def write_train_dir(data_dir: Path, split: TemporalSplit, out: Path) -> Path:
    """A MovieLens CSV directory holding only what was known before the cut (ratings and tags)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("movies.csv", "links.csv"):
        src = Path(data_dir) / name
        if src.is_file():
            shutil.copyfile(src, out / name)
    tags = Path(data_dir) / "tags.csv"
    if tags.is_file():  # tags are timestamped too: later ones would leak the future
        frame = pd.read_csv(tags)
        frame[frame["timestamp"] < split.cut].to_csv(out / "tags.csv", index=False)
    split.train.to_csv(out / "ratings.csv", index=False)
    return out
