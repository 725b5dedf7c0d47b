"""Fixtures of the experiments tests: small configs built from the schema."""

from __future__ import annotations

import pytest

from online import schemas


def ab_experiment(name: str = "rank-ab", salt: str = "s1", weights: tuple[int, int] = (50, 50), **kw: object) -> schemas.Experiment:
    return schemas.Experiment(
        name=name, type="ab", salt=salt,
        variants=[schemas.Variant(name="deepfm", weight=weights[0], model="deepfm"),
                  schemas.Variant(name="emb_mlp", weight=weights[1], model="emb_mlp", recall={"popular": 10},
                                  ann_index="flat")],
        **kw,
    )


def interleaving_experiment(name: str = "rank-il", **kw: object) -> schemas.Experiment:
    return schemas.Experiment(
        name=name, type="interleaving", salt="il",
        variants=[schemas.Variant(name="deepfm", weight=50, model="deepfm"),
                  schemas.Variant(name="din", weight=50, model="din")],
        **kw,
    )


@pytest.fixture
def ab() -> schemas.Experiment:
    return ab_experiment()


@pytest.fixture
def interleaved() -> schemas.Experiment:
    return interleaving_experiment()
