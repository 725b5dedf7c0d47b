"""Shared building blocks of the ranking models: raw inputs, preprocessing and interaction layers.

Every model is a composition of these blocks (TensorFlow-Recommenders style): each layer's
docstring names the paper section it implements and the shapes it maps. The model files only
wire blocks together, so a feature is declared once (``sparrow.feature_spec``) and preprocessed
once (:class:`FeatureEncoder`), never re-declared per model.

Preprocessing lives *inside* the model (Keras 3 dropped the old feature-column API): a served model
takes raw ids, genre strings and unscaled numbers. Lookups use index 0 for the padding value
(movie id 0, genre "") and index 1 for out-of-vocabulary values, so an unknown id or genre
scores through a learned OOV embedding instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from sparrow.feature_spec import (
    ALL_FEATURES,
    MISSING_GENRE,
    MISSING_ID,
    MOVIE_GENRES,
    MOVIE_ID,
    MOVIE_NUMERIC,
    USER_GENRES,
    USER_ID,
    USER_NUMERIC,
    USER_RECENT_MOVIES,
    Feature,
)

NUMERIC_FEATURES: tuple[Feature, ...] = (*MOVIE_NUMERIC, *USER_NUMERIC)


def _is_count(feature: Feature) -> bool:
    # rating counts are heavy-tailed (1 .. 300+): log1p before standardising keeps them in range
    return feature.name.endswith("RatingCount")


@dataclass
class FeatureVocab:
    """What preprocessing learns from the training samples: id/genre vocabularies and numeric stats."""

    movie_ids: np.ndarray
    user_ids: np.ndarray
    genres: list[str]
    numeric_mean: dict[str, float] = field(default_factory=dict)
    numeric_var: dict[str, float] = field(default_factory=dict)

    @classmethod
    def fit(cls, features: Mapping[str, np.ndarray]) -> FeatureVocab:
        """Vocabularies from in-memory training columns (one batch of :meth:`from_batches`)."""
        return cls.from_batches([features])

    @classmethod
    def from_batches(cls, batches: Iterable[Mapping[str, np.ndarray]]) -> FeatureVocab:
        """Vocabularies from a stream of column batches, e.g. ``ParquetSamples.vocab_batches()``.

        Equals :meth:`fit` on the concatenated columns; id and genre columns may come deduplicated.
        """
        acc = VocabAccumulator()
        for batch in batches:
            acc.update(batch)
        return acc.result()

    def summary(self) -> dict[str, int]:
        return {"movies": len(self.movie_ids), "users": len(self.user_ids), "genres": len(self.genres)}


def _sorted_unique(ids: np.ndarray) -> np.ndarray:
    # np.unique (hash-based in numpy 2.4) took ~270 ms on 560k int64, a sort and a mask ~15 ms
    ids = np.sort(ids)
    return ids[np.concatenate([[True], ids[1:] != ids[:-1]])] if len(ids) else ids


class VocabAccumulator:
    """Streaming :class:`FeatureVocab`: id/genre sets and per-feature (count, mean, M2) for the numerics.

    Movies seen as the candidate *or* as a recent positive share one vocabulary. The numeric stats
    are those of the model input (NaN -> 0, ``log1p`` for counts); batches are merged with Chan et
    al.'s pairwise update, so the variance stays exact without a second pass or a sum of squares.
    """

    def __init__(self) -> None:
        self.movies = np.empty(0, np.int64)
        self.users = np.empty(0, np.int64)
        self.genres: set[str] = set()
        self.moments = {f.name: (0, 0.0, 0.0) for f in NUMERIC_FEATURES}  # (n, mean, M2)

    def update(self, features: Mapping[str, np.ndarray]) -> None:
        """Add one batch of columns (full or, for ids and genres, already unique values)."""
        ids = [np.asarray(features[f.name], np.int64) for f in (MOVIE_ID, *USER_RECENT_MOVIES)]
        self.movies = _sorted_unique(np.concatenate([self.movies, *ids]))
        self.users = _sorted_unique(np.concatenate([self.users, np.asarray(features[USER_ID.name], np.int64)]))
        for f in (*MOVIE_GENRES, *USER_GENRES):
            self.genres.update(str(g) for g in np.unique(np.asarray(features[f.name]).astype(str)))
        for f in NUMERIC_FEATURES:
            x = np.nan_to_num(np.asarray(features[f.name]).astype(np.float64))
            x = np.log1p(np.maximum(x, 0.0)) if _is_count(f) else x
            if len(x) == 0:
                continue
            n, mean, m2 = self.moments[f.name]
            n_b, mean_b = len(x), float(x.mean())
            m2_b = float(np.square(x - mean_b).sum())
            if n == 0:  # the first batch as is: one batch gives exactly numpy's mean and var
                self.moments[f.name] = (n_b, mean_b, m2_b)
                continue
            total, delta = n + n_b, mean_b - mean
            self.moments[f.name] = (
                total,
                mean + delta * n_b / total,
                m2 + m2_b + delta * delta * n * n_b / total,
            )

    def result(self) -> FeatureVocab:
        """The vocabularies without padding values; variances floored at 1e-6 (constant features)."""
        mean = {name: float(m) for name, (_, m, _) in self.moments.items()}
        var = {name: float(max(m2 / n, 1e-6)) if n else 1.0 for name, (n, _, m2) in self.moments.items()}
        return FeatureVocab(
            movie_ids=self.movies[self.movies != MISSING_ID],
            user_ids=self.users[self.users != MISSING_ID],
            genres=sorted(g for g in self.genres if g != MISSING_GENRE),
            numeric_mean=mean,
            numeric_var=var,
        )


def raw_inputs(features: Sequence[Feature] = ALL_FEATURES) -> dict[str, keras.KerasTensor]:
    """One ``keras.Input`` per feature: shape ``(None,)`` and the spec's dtype (int64 / string / float32)."""
    return {f.name: keras.Input(shape=f.shape, dtype=f.dtype, name=f.name) for f in features}


class NumericFeatures(layers.Layer):
    """Raw numeric columns ``(B, n)`` -> cleaned, log-scaled (counts) and standardised ``(B, n)``.

    NaN (a missing statistic) becomes the training mean, i.e. 0 after standardisation.
    """

    def __init__(self, mean: Sequence[float], var: Sequence[float], log_mask: Sequence[bool], **kwargs: Any):
        super().__init__(**kwargs)
        self.mean, self.var, self.log_mask = list(mean), list(var), [bool(b) for b in log_mask]

    def call(self, x: Any) -> Any:
        x = ops.cast(x, "float32")
        log_mask = ops.convert_to_tensor(self.log_mask)
        x = ops.where(log_mask, ops.log1p(ops.maximum(x, 0.0)), x)
        x = (x - ops.convert_to_tensor(self.mean, "float32")) / ops.sqrt(
            ops.convert_to_tensor(self.var, "float32")
        )
        return ops.where(ops.isnan(x), ops.zeros_like(x), x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mean": self.mean, "var": self.var, "log_mask": self.log_mask}


class MaskedMean(layers.Layer):
    """Mean pooling over valid positions: values ``(B, L, d)``, valid ``(B, L)`` bool -> ``(B, d)``.

    Padding (absent genres / recent movies) is excluded; a row with nothing valid pools to zeros.
    """

    def call(self, values: Any, valid: Any) -> Any:
        weight = ops.expand_dims(ops.cast(valid, values.dtype), -1)
        return ops.sum(values * weight, axis=1) / ops.maximum(ops.sum(weight, axis=1), 1.0)


class FMInteraction(layers.Layer):
    """Second-order factorization-machine interaction (Rendle 2010, eq. 5; DeepFM §2.1 "FM component").

    Input: field embeddings ``(B, F, k)``. ``0.5 * ((sum_f v_f)^2 - sum_f v_f^2)`` is the sum of all
    pairwise dot products in O(F k). Output ``(B, 1)``, or with ``reduce=False`` the ``(B, k)``
    bi-interaction vector of NFM (He & Chua 2017, §3.1 eq. 4).
    """

    def __init__(self, reduce: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        self.reduce = reduce

    def call(self, fields: Any) -> Any:
        square_of_sum = ops.square(ops.sum(fields, axis=1))
        sum_of_square = ops.sum(ops.square(fields), axis=1)
        pairwise = 0.5 * (square_of_sum - sum_of_square)
        return ops.sum(pairwise, axis=1, keepdims=True) if self.reduce else pairwise

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "reduce": self.reduce}


class AttentionPooling(layers.Layer):
    """DIN local activation unit (Zhou et al. 2018, §4.3, eq. 3; Fig. 2 right).

    query ``(B, d)`` (candidate), keys ``(B, L, d)`` (behaviour sequence), valid ``(B, L)`` ->
    ``(B, d)`` = sum_j a(k_j, q) k_j, where ``a`` is a small MLP over ``[q, k, q - k, q * k]``.
    As in the paper the weights are *not* softmax-normalised, so the pooled vector keeps the
    intensity of the user's interest; padded positions get weight 0.
    """

    def __init__(self, hidden: int = 36, **kwargs: Any):
        super().__init__(**kwargs)
        self.hidden = hidden
        self.score_hidden = layers.Dense(hidden, activation="sigmoid")
        self.score_out = layers.Dense(1)

    def call(self, query: Any, keys: Any, valid: Any) -> Any:
        q = ops.broadcast_to(ops.expand_dims(query, 1), ops.shape(keys))
        unit_in = ops.concatenate([q, keys, q - keys, q * keys], axis=-1)
        weights = self.score_out(self.score_hidden(unit_in))  # (B, L, 1)
        weights = weights * ops.expand_dims(ops.cast(valid, weights.dtype), -1)
        return ops.sum(weights * keys, axis=1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "hidden": self.hidden}


class L2Normalize(layers.Layer):
    """``(B, d)`` -> unit-length ``(B, d)``, so a two-tower dot product is a cosine similarity."""

    def call(self, x: Any) -> Any:
        return x / ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=-1, keepdims=True), 1e-12))


class ScaledDot(layers.Layer):
    """Two-tower logit (Covington et al. 2016 / Yi et al. 2019 §3): ``scale * <u, v> + bias``, ``(B, 1)``.

    The towers' unit vectors give a cosine in [-1, 1]; a learned temperature lets the logit reach
    confident probabilities while the recall side uses the raw inner product.
    """

    def build(self, input_shape: Any) -> None:
        self.scale = self.add_weight(name="scale", shape=(), initializer=keras.initializers.Constant(5.0))
        self.bias = self.add_weight(name="bias", shape=(), initializer="zeros")

    def call(self, user: Any, item: Any) -> Any:
        return ops.sum(user * item, axis=-1, keepdims=True) * self.scale + self.bias


def mlp(units: Sequence[int], name: str, dropout: float = 0.0, activation: str = "relu") -> keras.Sequential:
    """MLP tower: ``(B, n)`` -> ``(B, units[-1])`` of Dense+activation blocks (the "deep" part everywhere)."""
    blocks: list[layers.Layer] = []
    for i, n in enumerate(units):
        blocks.append(layers.Dense(n, activation=activation, name=f"{name}_dense{i}"))
        if dropout:
            blocks.append(layers.Dropout(dropout, name=f"{name}_dropout{i}"))
    return keras.Sequential(blocks, name=name)


def logit_to_score(logit: Any, name: str = "score") -> Any:
    """``(B, 1)`` logit -> ``(B,)`` probability: the single output every ranking model serves."""
    return layers.Reshape((), name=name)(layers.Activation("sigmoid", name=f"{name}_sigmoid")(logit))


class FeatureEncoder:
    """Raw inputs of ALL_FEATURES plus one model's preprocessing and embedding layers.

    Each model builds its own encoder (fresh weights) and asks it for the blocks it needs; every
    block is built once and cached, so two callers share the same symbolic tensor. Movie ids in
    the candidate and in the user's recent positives share one lookup and one embedding table, so
    DIN's attention and the two-tower model compare vectors from the same space.
    """

    def __init__(self, vocab: FeatureVocab, dim: int, l2: float = 0.0) -> None:
        self.vocab, self.dim, self.l2 = vocab, dim, l2
        self.inputs = raw_inputs()
        self.movie_lookup = layers.IntegerLookup(
            vocabulary=vocab.movie_ids, mask_token=MISSING_ID, num_oov_indices=1, name="movie_lookup"
        )
        self.user_lookup = layers.IntegerLookup(
            vocabulary=vocab.user_ids, mask_token=MISSING_ID, num_oov_indices=1, name="user_lookup"
        )
        self.genre_lookup = layers.StringLookup(
            vocabulary=vocab.genres or ["(none)"],
            mask_token=MISSING_GENRE,
            num_oov_indices=1,
            name="genre_lookup",
        )
        self._cache: dict[str, Any] = {}

    def _cached(self, key: str, build: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    # --- indices (int, 0 = padding, 1 = OOV) -------------------------------------------------------
    def indices(self, features: Sequence[Feature], lookup: layers.Layer, key: str) -> Any:
        """``(B, len(features))`` lookup indices of several scalar inputs."""
        return self._cached(
            f"idx:{key}",
            lambda: ops.stack([lookup(self.inputs[f.name]) for f in features], axis=1),
        )

    def embedding(self, kind: str, dim: int | None = None) -> layers.Embedding:
        """The table for ``kind`` in {movie, user, genre}; ``dim=1`` gives the first-order (linear) weights."""
        dim = dim or self.dim
        size = {
            "movie": self.movie_lookup.vocabulary_size(),
            "user": self.user_lookup.vocabulary_size(),
            "genre": self.genre_lookup.vocabulary_size(),
        }[kind]
        # L2 on the id tables: with ~20 samples per id they otherwise memorise the training set in one epoch
        reg = keras.regularizers.L2(self.l2) if self.l2 else None
        return self._cached(
            f"emb:{kind}:{dim}",
            lambda: layers.Embedding(size, dim, embeddings_regularizer=reg, name=f"{kind}_embedding_{dim}"),
        )

    # --- embedded fields, each (B, d) unless noted -------------------------------------------------
    def user_vector(self, dim: int | None = None) -> Any:
        idx = self.indices((USER_ID,), self.user_lookup, "user")
        return self._cached(f"user:{dim}", lambda: ops.squeeze(self.embedding("user", dim)(idx), 1))

    def movie_vector(self, dim: int | None = None) -> Any:
        idx = self.indices((MOVIE_ID,), self.movie_lookup, "movie")
        return self._cached(f"movie:{dim}", lambda: ops.squeeze(self.embedding("movie", dim)(idx), 1))

    def recent_movies(self, dim: int | None = None) -> tuple[Any, Any]:
        """The user's recent positive movies: embeddings ``(B, 5, d)`` and valid mask ``(B, 5)``."""
        idx = self.indices(USER_RECENT_MOVIES, self.movie_lookup, "recent")
        emb = self._cached(f"recent:{dim}", lambda: self.embedding("movie", dim)(idx))
        return emb, ops.greater(idx, 0)

    def recent_movies_mean(self, dim: int | None = None) -> Any:
        emb, valid = self.recent_movies(dim)
        return self._cached(f"recent_mean:{dim}", lambda: MaskedMean(name=f"recent_mean_{dim}")(emb, valid))

    def _genres_mean(self, features: Sequence[Feature], key: str, dim: int | None) -> Any:
        idx = self.indices(features, self.genre_lookup, key)

        def build() -> Any:
            return MaskedMean(name=f"{key}_mean_{dim}")(
                self.embedding("genre", dim)(idx), ops.greater(idx, 0)
            )

        return self._cached(f"{key}:{dim}", build)

    def movie_genres(self, dim: int | None = None) -> Any:
        """Mean embedding of the candidate's genres."""
        return self._genres_mean(MOVIE_GENRES, "movie_genres", dim)

    def user_genres(self, dim: int | None = None) -> Any:
        """Mean embedding of the user's top genres."""
        return self._genres_mean(USER_GENRES, "user_genres", dim)

    def numeric(self, features: Sequence[Feature] = NUMERIC_FEATURES, name: str = "numeric") -> Any:
        """Standardised numeric features ``(B, len(features))``."""

        def build() -> Any:
            raw = ops.stack([self.inputs[f.name] for f in features], axis=1)
            return NumericFeatures(
                mean=[self.vocab.numeric_mean.get(f.name, 0.0) for f in features],
                var=[self.vocab.numeric_var.get(f.name, 1.0) for f in features],
                log_mask=[_is_count(f) for f in features],
                name=name,
            )(raw)

        return self._cached(f"numeric:{name}", build)

    def all_fields(self, name: str) -> Any:
        """Every field side by side ``(B, 5 * dim + n_numeric)``: the input of a plain deep tower.

        User and movie ids, the mean of each genre group, the mean of the recent movies and the
        standardised numerics (the Deep Crossing / Wide&Deep deep part).
        """
        return layers.Concatenate(name=name)(
            [
                self.user_vector(),
                self.movie_vector(),
                self.movie_genres(),
                self.user_genres(),
                self.recent_movies_mean(),
                self.numeric(),
            ]
        )

    def model(self, output: Any, name: str) -> keras.Model:
        """A model over *all* raw inputs (unused ones are ignored) so any model takes the same batch."""
        return keras.Model(inputs=self.inputs, outputs=output, name=name)
