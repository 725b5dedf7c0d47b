"""Item2vec (Barkan & Koenigstein, 2016): Word2Vec over each user's time-ordered positive sequence.

A user's positives play the role of a sentence and movies the role of words, so movies that are
liked by the same users close together in time get close vectors (SparrowRecSys' ``Embedding.scala``).
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from offline.embeddings.sequences import positive_sequences, word2vec_embedding
from offline.params import PipelineParams


def item2vec_embedding(train_ratings: DataFrame, params: PipelineParams) -> DataFrame:
    """``id long, vector array<float>`` for every movie that occurs in a positive sequence
    (and at least ``params.w2v_min_count`` times)."""
    return word2vec_embedding(positive_sequences(train_ratings), params)
