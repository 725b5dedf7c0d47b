"""Random walks on the item transition graph, generated in Spark (DeepWalk and Node2vec).

Every walk is a row ``walkId, path array<long>``; one walk step is one round of DataFrame
operations over all walks at once (join each walk with the adjacency row of its current node,
and for Node2vec also of its previous node, then pick the next node with column expressions).
Nothing is collected to the driver, so the same code runs on a cluster and on graphs larger than
one machine's memory.

Step rule (Grover & Leskovec, *node2vec*, KDD 2016, §3.2.2): a walk that came from ``t`` and
stands at ``v`` moves to out-neighbour ``x`` with probability proportional to
``w(v, x) * alpha(t, x)``, where ``alpha`` is ``1/p`` when ``x == t`` (return), ``1`` when ``t``
has an edge to ``x`` (stay close, BFS-like) and ``1/q`` otherwise (move outward, DFS-like).
DeepWalk (Perozzi et al., KDD 2014) is the case ``p = q = 1``: the next node is drawn by edge
weight alone. Node2vec draws are done by rejection sampling (as in KnightKing, SOSP 2019):
draw ``x`` by edge weight, accept it with probability ``alpha / max(alpha)``, so no per-edge
transition table of size ``sum(deg^2)`` is ever built. ``rounds`` proposals are drawn at once
(enough that all are rejected with probability < 1%; then the last one is taken).

Random numbers are hashes of ``(seed, walkId, step, round)``, not ``rand()``: a walk DataFrame
recomputed by a second Spark action yields exactly the same walks. A walk that reaches a node
without out-edges stops early.
"""

from __future__ import annotations

import math

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from offline.embeddings.sequences import positive_sequences, transition_edges, word2vec_embedding
from offline.params import PipelineParams

PATH_COL = "path"
MAX_ROUNDS = 64
# Up to this many edges the adjacency lists are broadcast (~16 bytes an edge, so <= ~50 MB);
# larger graphs are joined with a shuffle of the walks at every step.
BROADCAST_MAX_EDGES = 3_000_000
_TWO_53 = 9007199254740992  # 2**53: a hash mod 2**53 / 2**53 is a uniform double in [0, 1)


def adjacency(edges: DataFrame) -> DataFrame:
    """``node long, nbrs array<long>, draws array<long>`` per node with out-edges.

    ``nbrs`` are the distinct out-neighbours (sorted); ``draws`` repeats each neighbour ``weight``
    times, so a uniform pick from ``draws`` is a pick proportional to the edge weight in O(1)
    (a cumulative-weight scan would be O(degree) of interpreted lambda calls per draw). Weights
    are transition counts, i.e. positive integers; other values are rounded (at least 1).
    """
    repeats = F.greatest(F.lit(1), F.round("weight").cast("int"))
    return edges.groupBy("src").agg(
        F.array_sort(F.collect_list("dst")).alias("nbrs"),
        F.array_sort(F.flatten(F.collect_list(F.array_repeat("dst", repeats)))).alias("draws"),
    ).withColumnRenamed("src", "node")


def start_walks(edges: DataFrame, walks_per_node: int) -> DataFrame:
    """``walkId long, path array<long>``: ``walks_per_node`` one-node walks from every graph node."""
    nodes = edges.select(F.col("src").alias("node")).union(edges.select(F.col("dst").alias("node"))).distinct()
    copies = F.explode(F.sequence(F.lit(0), F.lit(walks_per_node - 1))).alias("copy")
    return nodes.select("node", copies).select(
        (F.col("node") * F.lit(walks_per_node) + F.col("copy")).cast("long").alias("walkId"),
        F.array(F.col("node").cast("long")).alias(PATH_COL),
    )


def rejection_rounds(p: float, q: float, miss: float = 0.01) -> int:
    """Proposals per step so that all are rejected with probability below ``miss``."""
    alphas = (1.0 / p, 1.0, 1.0 / q)
    accept = min(alphas) / max(alphas)
    if accept >= 1.0:
        return 1
    return max(1, min(MAX_ROUNDS, math.ceil(math.log(miss) / math.log(1.0 - accept))))


def _uniform(seed: int, step: int, salt: str) -> str:
    """SQL for a uniform [0, 1) double derived from the walk id, the step and ``salt`` (a SQL expr)."""
    return f"(cast(pmod(xxhash64({seed}, walkId, {step}, {salt}), {_TWO_53}) as double) / {float(_TWO_53)})"


def walk_step(walks: DataFrame, adj: DataFrame, p: float, q: float, seed: int, step: int) -> DataFrame:
    """Extend every walk by one node chosen among the out-edges of its last node (see module doc).

    ``walks`` is referenced once, so iterating this function builds a plan that grows linearly
    with the number of steps. When ``adj`` carries a broadcast hint the joins are map-side and
    the walks never move between executors.
    """
    rounds = rejection_rounds(p, q)
    max_alpha = max(1.0 / p, 1.0, 1.0 / q)
    cur_adj = adj.select(F.col("node").alias("cur"), "draws")
    frame = walks.select(
        "walkId",
        PATH_COL,
        F.element_at(PATH_COL, -1).alias("cur"),
        F.when(F.size(PATH_COL) >= 2, F.element_at(PATH_COL, -2)).alias("prev"),
    ).join(cur_adj, on="cur", how="left")  # left: a walk at a dead end keeps its row with draws = null

    def draw(salt: str) -> str:
        """SQL: a neighbour of ``cur`` drawn with probability proportional to the edge weight."""
        index = f"least(size(draws), 1 + cast(floor({_uniform(seed, step, salt)} * size(draws)) as int))"
        return f"element_at(draws, {index})"

    if rounds == 1:  # DeepWalk: every proposal is accepted
        dead_end = F.col("draws").isNull()
        chosen = F.expr(draw("0"))
    else:
        # The proposals are drawn, and ``draws`` dropped, before the walks are shuffled again for the
        # join with the previous node's neighbours: a popular node's ``draws`` holds one entry per
        # transition (tens of thousands on the ML-25M shape), and carrying it through that shuffle
        # moved tens of GB per step when the graph is too big to broadcast.
        proposals = F.expr(
            f"transform(sequence(0, {rounds - 1}), i -> named_struct('x', {draw('i')}, "
            f"'u', {_uniform(seed + 1, step, 'i')}))"
        )
        frame = frame.withColumn("proposals", F.when(F.col("draws").isNotNull(), proposals)).drop("draws")
        prev_adj = adj.select(F.col("node").alias("prev"), F.col("nbrs").alias("prev_nbrs"))
        frame = frame.join(prev_adj, on="prev", how="left")
        alpha = (
            f"CASE WHEN prev IS NULL THEN {max_alpha} WHEN pr.x = prev THEN {1.0 / p} "
            f"WHEN array_contains(coalesce(prev_nbrs, array()), pr.x) THEN 1.0 ELSE {1.0 / q} END"
        )
        # Proposal i is accepted when u_i * max_alpha < alpha(x_i); the first accepted one wins, else
        # the last proposal. alpha costs an O(degree) array_contains, so it is evaluated only when the
        # draw does not already pass the smallest alpha, and no proposal after the first accepted one
        # is looked at (CASE and OR short-circuit): with p=1, q=0.5 ~0.7 scans per step instead of 7.
        accept = f"(pr.u * {max_alpha} < {min(1.0 / p, 1.0, 1.0 / q)} OR pr.u * {max_alpha} < {alpha})"
        first_accepted = F.expr(
            f"aggregate(proposals, CAST(NULL AS BIGINT), "
            f"(acc, pr) -> CASE WHEN acc IS NOT NULL THEN acc WHEN {accept} THEN pr.x END)"
        )
        dead_end = F.col("proposals").isNull()
        chosen = F.coalesce(first_accepted, F.element_at("proposals", -1)["x"])
    return frame.select(
        "walkId",
        F.when(dead_end, F.col(PATH_COL))
        .otherwise(F.concat(F.col(PATH_COL), F.array(chosen)))
        .alias(PATH_COL),
    )


def random_walks(
    edges: DataFrame,
    walk_length: int,
    walks_per_node: int,
    p: float = 1.0,
    q: float = 1.0,
    seed: int = 42,
    broadcast_graph: bool = False,
) -> DataFrame:
    """Lazily build ``walkId long, path array<long>`` walks of up to ``walk_length`` nodes.

    ``edges`` is ``src long, dst long, weight double`` (positive weights). The result is an
    unevaluated DataFrame: building it runs no Spark job. It is deterministic for a given seed.
    ``broadcast_graph`` ships the adjacency lists (not the walks) to every executor, so each
    step is a map-side join instead of a shuffle of all walks; use it when the graph is small.
    """
    if walk_length < 1 or walks_per_node < 1:
        raise ValueError("walk_length and walks_per_node must be >= 1")
    if p <= 0 or q <= 0:
        raise ValueError("node2vec p and q must be > 0")
    adj = adjacency(edges)
    if broadcast_graph:
        adj = F.broadcast(adj)
    walks = start_walks(edges, walks_per_node)
    for step in range(walk_length - 1):
        walks = walk_step(walks, adj, p, q, seed=seed, step=step)
    return walks


def broadcast_graph(n_edges: int, max_edges: int = BROADCAST_MAX_EDGES) -> bool:
    """Whether a graph of ``n_edges`` edges is small enough to ship its adjacency lists to every executor."""
    return n_edges <= max_edges


def graph_embedding(edges: DataFrame, params: PipelineParams, p: float, q: float) -> DataFrame:
    """Walk the graph (``p = q = 1``: DeepWalk, otherwise Node2vec) and fit Word2Vec on the walks."""
    walks = random_walks(
        edges, params.walk_length, params.walks_per_node, p=p, q=q, seed=params.seed,
        broadcast_graph=broadcast_graph(edges.count()),
    )
    walks = walks.where(F.size(PATH_COL) >= 2).persist()  # kept on executors: Word2Vec reads it twice
    try:
        vectors = word2vec_embedding(walks, params, column=PATH_COL).persist()
        vectors.count()  # materialise before the walks are released
    finally:
        walks.unpersist()
    return vectors


def transition_graph(train_ratings: DataFrame) -> DataFrame:
    """``src, dst, weight`` transition edges of the positive sequences: the graph both walk families share."""
    return transition_edges(positive_sequences(train_ratings))


def deepwalk_embedding(edges: DataFrame, params: PipelineParams) -> DataFrame:
    """DeepWalk vectors: walks drawn by edge weight alone (``p = q = 1``), then Word2Vec."""
    return graph_embedding(edges, params, p=1.0, q=1.0)


def node2vec_embedding(edges: DataFrame, params: PipelineParams) -> DataFrame:
    """Node2vec vectors: walks biased by ``params.node2vec_p`` / ``node2vec_q``, then Word2Vec."""
    return graph_embedding(edges, params, p=params.node2vec_p, q=params.node2vec_q)
