"""Deep Interest Network (Zhou et al. 2018, §4.3, Fig. 2): attention over the user's recent positives.

The candidate movie's embedding queries the user's recent positive movies (same embedding table)
through the local activation unit (:class:`~offline.models.layers.AttentionPooling`); the pooled
interest joins the user, candidate, genre and numeric fields in an MLP.
"""

from __future__ import annotations

from keras import layers

from offline.models.config import BuiltModel, ModelConfig
from offline.models.layers import AttentionPooling, FeatureEncoder, FeatureVocab, logit_to_score, mlp


def build(vocab: FeatureVocab, config: ModelConfig) -> BuiltModel:
    enc = FeatureEncoder(vocab, config.embedding_dim, config.embedding_l2)
    candidate = enc.movie_vector()
    recent, valid = enc.recent_movies()
    interest = AttentionPooling(name="attention")(candidate, recent, valid)
    x = layers.Concatenate(name="fields")(
        [interest, candidate, enc.user_vector(), enc.movie_genres(), enc.user_genres(), enc.numeric()]
    )
    logit = layers.Dense(1, name="logit")(mlp(config.hidden, "deep", config.dropout, activation="relu")(x))
    return BuiltModel(enc.model(logit_to_score(logit), "din"))
