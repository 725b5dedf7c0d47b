"""DeepFM (Guo et al. 2017, §2.1): FM first- and second-order terms + a deep MLP on shared embeddings.

Fields: user, candidate movie, candidate genres (mean), user's top genres (mean), recent positive
movies (mean), and the numeric block projected to one more field. The FM component and the deep
component read the *same* field embeddings (the paper's key point versus Wide&Deep: no manual
crosses).
"""

from __future__ import annotations

from keras import layers, ops

from offline.models.config import BuiltModel, ModelConfig
from offline.models.layers import FeatureEncoder, FeatureVocab, FMInteraction, logit_to_score, mlp


def field_embeddings(enc: FeatureEncoder, dim: int) -> list:
    """The DeepFM/NFM fields, each ``(B, dim)``."""
    numeric_field = layers.Dense(dim, use_bias=False, name=f"numeric_field_{dim}")(enc.numeric())
    return [
        enc.user_vector(dim),
        enc.movie_vector(dim),
        enc.movie_genres(dim),
        enc.user_genres(dim),
        enc.recent_movies_mean(dim),
        numeric_field,
    ]


def first_order(enc: FeatureEncoder) -> object:
    """FM linear term ``(B, 1)``: one weight per id / genre plus a linear map of the numerics."""
    return layers.Add(name="first_order")(
        [
            enc.user_vector(1),
            enc.movie_vector(1),
            enc.movie_genres(1),
            enc.user_genres(1),
            layers.Dense(1, name="numeric_linear")(enc.numeric()),
        ]
    )


def build(vocab: FeatureVocab, config: ModelConfig) -> BuiltModel:
    enc = FeatureEncoder(vocab, config.embedding_dim, config.embedding_l2)
    fields = field_embeddings(enc, config.embedding_dim)
    stacked = ops.stack(fields, axis=1)  # (B, F, k)
    fm = FMInteraction(name="fm")(stacked)
    deep_in = layers.Concatenate(name="deep_fields")(fields)
    deep = layers.Dense(1, name="deep_logit")(mlp(config.hidden, "deep", config.dropout)(deep_in))
    logit = layers.Add(name="logit")([first_order(enc), fm, deep])
    return BuiltModel(enc.model(logit_to_score(logit), "deepfm"))
