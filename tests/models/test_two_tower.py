"""The two-tower model's exported towers reproduce its score and give unit vectors for recall."""

from __future__ import annotations

import numpy as np
from test_models_export import _candidate_batch

from offline.models.export import EMBEDDING_OUTPUT, as_tensors, load_signature
from sparrow import feature_spec as fs


def test_towers_are_exported_and_reproduce_the_score(trained) -> None:
    entry = trained.entries["two_tower"]
    model_dir = trained.bundle.model_dir("two_tower")
    user_sig = load_signature(model_dir / entry["towers"]["user_tower"]["path"])
    item_sig = load_signature(model_dir / entry["towers"]["item_tower"]["path"])
    batch = _candidate_batch(trained.test_dir, n=50, seed=3)

    user = user_sig(**as_tensors({k: batch[k][:1] for k in batch}, fs.USER_FEATURES))[
        EMBEDDING_OUTPUT
    ].numpy()
    items = item_sig(**as_tensors(batch, fs.MOVIE_FEATURES))[EMBEDDING_OUTPUT].numpy()
    assert user.shape == (1, entry["towers"]["user_tower"]["dim"]) and items.shape[0] == 50
    np.testing.assert_allclose(np.linalg.norm(user, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(items, axis=1), 1.0, atol=1e-5)

    similarity = trained.models["two_tower"].model.get_layer("similarity")
    scale, bias = float(similarity.scale.numpy()), float(similarity.bias.numpy())
    expected = 1 / (1 + np.exp(-(items @ user[0] * scale + bias)))
    scores = np.asarray(trained.models["two_tower"].model(as_tensors(batch), training=False))
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-5)
