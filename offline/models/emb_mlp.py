"""Embedding + MLP (Deep Crossing style; Shan et al. 2016 §3): embed every field, concatenate, MLP."""

from __future__ import annotations

from keras import layers

from offline.models.config import BuiltModel, ModelConfig
from offline.models.layers import FeatureEncoder, FeatureVocab, logit_to_score, mlp


def build(vocab: FeatureVocab, config: ModelConfig) -> BuiltModel:
    enc = FeatureEncoder(vocab, config.embedding_dim, config.embedding_l2)
    x = enc.all_fields("fields")
    logit = layers.Dense(1, name="logit")(mlp(config.hidden, "deep", config.dropout)(x))
    return BuiltModel(enc.model(logit_to_score(logit), "emb_mlp"))
