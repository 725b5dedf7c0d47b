"""User embeddings derived from item embeddings: the mean vector of the user's recent positives.

This is SparrowRecSys' user embedding (``Embedding.scala``: sum of the item vectors of the movies a
user rated well), as a mean so its scale does not grow with the history length. ALS learns user
factors directly, so ``als_item`` gets no derived user embedding (``als_user`` is used instead).
"""

from __future__ import annotations

from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.ml.stat import Summarizer
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sparrow.bundle import ITEM_EMBEDDINGS, user_embedding_name

NOT_AVERAGED = ("als_item",)  # has learned user factors of its own


def mean_item_vectors(item_vectors: DataFrame, user_recent: DataFrame) -> DataFrame:
    """``id long (userId), vector array<float>``: mean of the vectors of each user's ``recentPositives``.

    Movies without a vector are skipped; users none of whose recent positives has a vector are absent.
    """
    pairs = user_recent.select("userId", F.explode("recentPositives").alias("id")).distinct()
    vectors = item_vectors.select(F.col("id").cast("long").alias("id"), array_to_vector("vector").alias("v"))
    return (
        pairs.join(vectors, "id")
        .groupBy("userId")
        .agg(Summarizer.mean(F.col("v")).alias("mean"))
        .select(F.col("userId").cast("long").alias("id"), vector_to_array("mean", "float32").alias("vector"))
    )


def build_user_embeddings(item_embeddings: dict[str, DataFrame], user_recent: DataFrame) -> dict[str, DataFrame]:
    """``{user_embedding_name(name): DataFrame}`` for every item embedding except ``als_item``.

    ``user_recent`` has ``userId long, recentPositives array<long>`` (newest first); every movie in it
    counts equally. Names in ``item_embeddings`` that are not item embeddings (e.g. ``als_user``) are ignored.
    """
    return {
        user_embedding_name(name): mean_item_vectors(frame, user_recent)
        for name, frame in item_embeddings.items()
        if name in ITEM_EMBEDDINGS and name not in NOT_AVERAGED
    }
