"""Model name -> builder. Names are those of ``offline.params.ALL_MODELS`` (plus the stretch ``nfm``)."""

from __future__ import annotations

from collections.abc import Callable

from offline.models import deepfm, din, emb_mlp, neural_cf, nfm, two_tower, wide_deep
from offline.models.config import BuiltModel, ModelConfig
from offline.models.layers import FeatureVocab

Builder = Callable[[FeatureVocab, ModelConfig], BuiltModel]

BUILDERS: dict[str, Builder] = {
    "emb_mlp": emb_mlp.build,
    "wide_deep": wide_deep.build,
    "neural_cf": neural_cf.build,
    "two_tower": two_tower.build,
    "deepfm": deepfm.build,
    "din": din.build,
    "nfm": nfm.build,
}


def build_model(name: str, vocab: FeatureVocab, config: ModelConfig | None = None) -> BuiltModel:
    """Build the untrained model ``name``; unknown names raise ValueError listing the known ones."""
    try:
        builder = BUILDERS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(BUILDERS)}") from None
    return builder(vocab, config or ModelConfig())
