"""NFM (He & Chua 2017, §3.1): bi-interaction pooling of the field embeddings, then an MLP.

A stretch model (not in the default model list): it shares DeepFM's fields and linear term and
replaces the FM sum by the ``(B, k)`` bi-interaction vector fed to the hidden layers.
"""

from __future__ import annotations

from keras import layers, ops

from offline.models.config import BuiltModel, ModelConfig
from offline.models.deepfm import field_embeddings, first_order
from offline.models.layers import FeatureEncoder, FeatureVocab, FMInteraction, logit_to_score, mlp


def build(vocab: FeatureVocab, config: ModelConfig) -> BuiltModel:
    enc = FeatureEncoder(vocab, config.embedding_dim, config.embedding_l2)
    pooled = FMInteraction(reduce=False, name="bi_interaction")(
        ops.stack(field_embeddings(enc, config.embedding_dim), 1)
    )
    pooled = layers.BatchNormalization(name="bi_norm")(pooled)
    deep = layers.Dense(1, name="deep_logit")(mlp(config.hidden, "deep", config.dropout)(pooled))
    logit = layers.Add(name="logit")([first_order(enc), deep])
    return BuiltModel(enc.model(logit_to_score(logit), "nfm"))
