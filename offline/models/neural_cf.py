"""NeuralCF with an MLP interaction tower (He et al. 2017, §3.3 "Multi-Layer Perceptron").

Only the user and movie ids are used, as in the paper: the model learns collaborative
filtering from the id embeddings alone. (The dot-product form is :mod:`offline.models.two_tower`.)
"""

from __future__ import annotations

from keras import layers

from offline.models.config import BuiltModel, ModelConfig
from offline.models.layers import FeatureEncoder, FeatureVocab, logit_to_score, mlp


def build(vocab: FeatureVocab, config: ModelConfig) -> BuiltModel:
    enc = FeatureEncoder(vocab, config.embedding_dim, config.embedding_l2)
    x = layers.Concatenate(name="user_movie")([enc.user_vector(), enc.movie_vector()])
    logit = layers.Dense(1, name="logit")(mlp(config.hidden, "interaction", config.dropout)(x))
    return BuiltModel(enc.model(logit_to_score(logit), "neural_cf"))
