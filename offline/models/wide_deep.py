"""Wide & Deep (Cheng et al. 2016, §3): a linear model over crossed features + an embedding MLP.

Wide part (§3.1, "cross-product transformations"): hashed crosses the deep part cannot memorise
cheaply — the user's last positive movie x the candidate, and the user's top genre x the
candidate's first genre — plus the candidate id itself, each a learned weight per hash bucket.
Deep part (§3.2): the Embedding+MLP tower. Both feed one logistic output (§3.3, joint training).
"""

from __future__ import annotations

from keras import layers

from offline.models.config import BuiltModel, ModelConfig
from offline.models.layers import FeatureEncoder, FeatureVocab, logit_to_score, mlp
from sparrow.feature_spec import MOVIE_GENRES, MOVIE_ID, USER_GENRES, USER_RECENT_MOVIES

# (left feature, right feature) pairs crossed in the wide part
WIDE_CROSSES = (
    (USER_RECENT_MOVIES[0], MOVIE_ID),
    (USER_GENRES[0], MOVIE_GENRES[0]),
)


def build(vocab: FeatureVocab, config: ModelConfig) -> BuiltModel:
    enc = FeatureEncoder(vocab, config.embedding_dim, config.embedding_l2)
    wide_terms = [enc.movie_vector(dim=1)]
    for left, right in WIDE_CROSSES:
        name = f"cross_{left.name}_{right.name}"
        crossed = layers.HashedCrossing(num_bins=config.wide_buckets, name=name)(
            (enc.inputs[left.name], enc.inputs[right.name])
        )
        wide_terms.append(layers.Embedding(config.wide_buckets, 1, name=f"{name}_weight")(crossed))
    wide = layers.Add(name="wide")(wide_terms)

    deep_in = enc.all_fields("deep_fields")
    deep = layers.Dense(1, name="deep_logit")(mlp(config.hidden, "deep", config.dropout)(deep_in))
    logit = layers.Add(name="logit")([wide, deep])
    return BuiltModel(enc.model(logit_to_score(logit), "wide_deep"))
