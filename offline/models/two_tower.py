"""NeuralCF as a two-tower dot product (He et al. 2017 §3.2 GMF generalised; Yi et al. 2019 §3).

The user tower reads only user features and the item tower only movie features, so each side
can be computed alone: the online side embeds the user with ``user_tower`` and searches item
vectors precomputed by ``item_tower`` (inner product = cosine; both are L2-normalised). The
ranking model scores ``sigmoid(scale * <u, v> + bias)``.
"""

from __future__ import annotations

import keras
from keras import layers

from offline.models.config import BuiltModel, ModelConfig
from offline.models.layers import (
    FeatureEncoder,
    FeatureVocab,
    L2Normalize,
    ScaledDot,
    logit_to_score,
    mlp,
)
from sparrow.bundle import ITEM_TOWER, USER_TOWER
from sparrow.feature_spec import MOVIE_FEATURES, MOVIE_NUMERIC, USER_FEATURES, USER_NUMERIC


def build(vocab: FeatureVocab, config: ModelConfig) -> BuiltModel:
    enc = FeatureEncoder(vocab, config.embedding_dim, config.embedding_l2)
    user_in = layers.Concatenate(name="user_fields")(
        [
            enc.user_vector(),
            enc.user_genres(),
            enc.recent_movies_mean(),
            enc.numeric(USER_NUMERIC, "user_numeric"),
        ]
    )
    item_in = layers.Concatenate(name="item_fields")(
        [enc.movie_vector(), enc.movie_genres(), enc.numeric(MOVIE_NUMERIC, "movie_numeric")]
    )
    user_vec = L2Normalize(name="user_vector")(
        layers.Dense(config.tower_dim, name="user_out")(
            mlp(config.hidden, "user_mlp", config.dropout)(user_in)
        )
    )
    item_vec = L2Normalize(name="item_vector")(
        layers.Dense(config.tower_dim, name="item_out")(
            mlp(config.hidden, "item_mlp", config.dropout)(item_in)
        )
    )
    logit = ScaledDot(name="similarity")(user_vec, item_vec)
    towers = {
        USER_TOWER: keras.Model(
            {f.name: enc.inputs[f.name] for f in USER_FEATURES}, user_vec, name=USER_TOWER
        ),
        ITEM_TOWER: keras.Model(
            {f.name: enc.inputs[f.name] for f in MOVIE_FEATURES}, item_vec, name=ITEM_TOWER
        ),
    }
    return BuiltModel(enc.model(logit_to_score(logit), "two_tower"), towers)
