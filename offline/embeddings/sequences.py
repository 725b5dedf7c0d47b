"""Item sequences and the item transition graph, the raw material of Item2vec and graph embeddings.

A user's *positive sequence* is the movies they rated at least ``POSITIVE_RATING``, in time
order (SparrowRecSys' ``processItemSequence``). Consecutive pairs of those sequences are the
directed, weighted edges of the item graph that DeepWalk and Node2vec walk on.
Everything here is a lazy Spark transformation: nothing is collected to the driver.
"""

from __future__ import annotations

import logging

from pyspark.ml.feature import Word2Vec
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from offline.params import PipelineParams
from sparrow.feature_spec import POSITIVE_RATING

SEQUENCE_COL = "sequence"
log = logging.getLogger(__name__)


def positive_sequences(train_ratings: DataFrame) -> DataFrame:
    """``userId long, sequence array<long>``: each user's positives ordered by (timestamp, movieId).

    Users with no positive rating are absent. The tie-break on movieId makes the order deterministic
    when a user rated several movies within the same second (common in MovieLens).
    """
    return (
        train_ratings.where(F.col("rating") >= F.lit(POSITIVE_RATING))
        .groupBy("userId")
        .agg(F.array_sort(F.collect_list(F.struct("timestamp", "movieId"))).alias("events"))
        .select("userId", F.transform("events", lambda e: e["movieId"]).alias(SEQUENCE_COL))
    )


def transition_edges(sequences: DataFrame) -> DataFrame:
    """``src long, dst long, weight double``: how often ``dst`` directly followed ``src`` in a sequence.

    Self transitions (a movie re-rated) are dropped: they carry no similarity signal and would make
    a random walk stall on one node.
    """
    seq = F.col(SEQUENCE_COL)
    pairs = F.arrays_zip(
        F.slice(seq, 1, F.greatest(F.size(seq) - 1, F.lit(0))).alias("src"),
        F.slice(seq, 2, F.greatest(F.size(seq) - 1, F.lit(0))).alias("dst"),
    )
    return (
        sequences.where(F.size(seq) >= 2)
        .select(F.explode(pairs).alias("p"))
        .select(F.col("p.src").alias("src"), F.col("p.dst").alias("dst"))
        .where(F.col("src") != F.col("dst"))
        .groupBy("src", "dst")
        .agg(F.count(F.lit(1)).cast("double").alias("weight"))
    )


def word2vec_iterations(tokens: int, params: PipelineParams) -> int:
    """Passes over a corpus of ``tokens`` tokens: ``w2v_iterations`` unless that exceeds the token budget."""
    if tokens <= 0:
        return params.w2v_iterations
    return max(1, min(params.w2v_iterations, params.w2v_token_budget // tokens))


def word2vec_embedding(token_lists: DataFrame, params: PipelineParams, column: str = SEQUENCE_COL) -> DataFrame:
    """Fit Spark ML Word2Vec on ``column`` (array<long> of movie ids) -> ``id long, vector array<float>``.

    Used by Item2vec (user sequences) and by DeepWalk/Node2vec (walks): only the corpus differs.
    Passes over the corpus: :func:`word2vec_iterations` (the token budget bounds large corpora).
    """
    corpus = token_lists.select(F.transform(F.col(column), lambda m: m.cast("string")).alias("tokens"))
    total = corpus.select(F.sum(F.size("tokens")).alias("n")).first()
    tokens = int(total["n"] or 0) if total else 0
    iterations = word2vec_iterations(tokens, params)
    log.info("word2vec over %s: %d tokens, %d iteration(s)", column, tokens, iterations)
    w2v = Word2Vec(
        vectorSize=params.embedding_dim,
        windowSize=params.w2v_window,
        minCount=params.w2v_min_count,
        maxIter=iterations,
        seed=params.seed,
        inputCol="tokens",
        outputCol="unused",
    )
    model = w2v.fit(corpus)
    return model.getVectors().select(
        F.col("word").cast("long").alias("id"),
        vector_to_array("vector", "float32").alias("vector"),
    )
