"""Time the DeepWalk and Node2vec walks alone on a pipeline work directory's training ratings.

``python -m bench.walk_timing WORK_DIR [--driver-memory 12g]`` builds the transition graph from the
ratings before the split's time cut (as the embeddings step does) and counts the walks, so the time
is the walk generation only (no Word2Vec). Use it on the work directory of an offline bench run,
e.g. ``/tmp/offw/artifacts-25m/work`` after ``--offline-sizes 25m``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pyspark.sql import functions as F

from offline.embeddings.graph_walks import PATH_COL, broadcast_graph, random_walks
from offline.embeddings.sequences import positive_sequences, transition_edges
from offline.params import PipelineParams
from offline.spark_session import get_spark, stop_spark
from offline.split import before
from offline.workdir import WorkDir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("--driver-memory", default=None)
    parser.add_argument("--broadcast", choices=("auto", "yes", "no"), default="auto",
                        help="ship the adjacency lists to the executors (auto: the pipeline's rule)")
    args = parser.parse_args(argv)
    work, params = WorkDir(args.work_dir), PipelineParams()
    spark = get_spark(driver_memory=args.driver_memory)
    try:
        train = before(spark.read.parquet(str(work.ratings)), int(work.read_summary("split")["cut"]))
        edges = transition_edges(positive_sequences(train)).persist()
        n_edges = edges.count()
        small = broadcast_graph(n_edges) if args.broadcast == "auto" else args.broadcast == "yes"
        print(f"edges {n_edges:,} ({'broadcast' if small else 'shuffled'} adjacency)")
        for name, p, q in (("deepwalk", 1.0, 1.0), ("node2vec", params.node2vec_p, params.node2vec_q)):
            start = time.perf_counter()
            walks = random_walks(edges, params.walk_length, params.walks_per_node, p=p, q=q, seed=params.seed,
                                 broadcast_graph=small)
            count = walks.where(F.size(PATH_COL) >= 2).count()
            print(f"{name} walks {count:,} in {time.perf_counter() - start:.1f} s")
    finally:
        stop_spark()


if __name__ == "__main__":
    main()
