"""TFServingRanker against a fake TF Serving REST server on a loopback port, and the repository sync."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from online.tfserving_client import (
    TFServingError,
    TFServingRanker,
    main,
    model_config_text,
    parse_scores,
    predict_request,
    sync_model_repository,
    tfserving_version,
)
from sparrow.bundle import new_version, read_current, write_bundle
from sparrow.feature_spec import ALL_FEATURES, serving_batch, user_features_from_history

# A handler returns (status, JSON payload) for (path, body); the server records every request.
Handler = Callable[[str, dict[str, Any]], tuple[int, Any]]


class FakeTFServing:
    """A ThreadingHTTPServer that answers POST …:predict with a pluggable handler."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.handler: Handler = self.echo_scores
        fake = self

        class _RequestHandler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append((self.path, body))
                status, payload = fake.handler(self.path, body)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                # the client may have given up already (timeout test)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _RequestHandler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def echo_scores(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        """Score = movieId / 1000 as a column of shape (n, 1), like a one-output Keras model."""
        return 200, {"outputs": [[m / 1000.0] for m in body["inputs"]["movieId"]]}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_tfserving() -> Iterator[FakeTFServing]:
    server = FakeTFServing()
    yield server
    server.close()


def _batch(n: int = 4) -> dict[str, np.ndarray]:
    """A real serving batch built by the feature contract (int64 ids, string genres, float32 stats)."""
    user = user_features_from_history(
        7, {"userGenre1": "Drama", "userAvgRating": 3.5}, realtime_positives=[11]
    )
    movies = {
        "movieId": np.arange(1, n + 1, dtype=np.int64),
        "movieGenre1": np.array(["Comedy", "Drama", "", "Action"][:n], dtype=object),
        "movieAvgRating": np.linspace(2.0, 4.5, n).astype(np.float32),
    }
    return serving_batch(user, movies)


def test_request_body_is_columnar_with_json_types_per_dtype(fake_tfserving: FakeTFServing) -> None:
    batch = _batch(4)
    with TFServingRanker(fake_tfserving.url, timeout_s=2.0) as ranker:
        scores = ranker.score("deepfm", batch)

    assert scores.dtype == np.float32 and scores.shape == (4,)
    np.testing.assert_allclose(scores, [0.001, 0.002, 0.003, 0.004], rtol=1e-6)
    path, body = fake_tfserving.requests[-1]
    assert path == "/v1/models/deepfm:predict"
    assert body["signature_name"] == "serving_default"
    assert set(body["inputs"]) == {f.name for f in ALL_FEATURES}
    for feature in ALL_FEATURES:
        column = body["inputs"][feature.name]
        assert len(column) == 4, feature.name
        expected_type = {"int64": int, "float32": float, "string": str}[feature.dtype]
        assert all(type(v) is expected_type for v in column), (feature.name, column)
    assert body["inputs"]["userId"] == [7] * 4
    assert body["inputs"]["userRatedMovie1"] == [11] * 4
    assert body["inputs"]["movieGenre1"] == ["Comedy", "Drama", "", "Action"]
    assert body["inputs"]["userAvgRating"] == [3.5] * 4


def test_bytes_and_numpy_string_columns_become_text() -> None:
    body = predict_request(
        {"g": np.array([b"Drama", b"Sci-Fi"]), "h": np.array(["a", "b"]), "n": np.array([1, 2])}
    )
    assert body["inputs"] == {"g": ["Drama", "Sci-Fi"], "h": ["a", "b"], "n": [1, 2]}


def test_non_finite_floats_and_ragged_columns_are_rejected_before_sending() -> None:
    with pytest.raises(ValueError, match="userAvgRating"):
        predict_request({"userAvgRating": np.array([1.0, np.nan], dtype=np.float32)})
    with pytest.raises(ValueError, match="differ in length"):
        predict_request({"a": np.zeros(2), "b": np.zeros(3)})


def test_server_error_becomes_tfserving_error_with_status_and_message(fake_tfserving: FakeTFServing) -> None:
    fake_tfserving.handler = lambda path, body: (400, {"error": "Missing 'inputs' key userGenre5"})
    ranker = TFServingRanker(fake_tfserving.url)
    with pytest.raises(TFServingError, match="userGenre5") as info:
        ranker.score("deepfm", _batch(2))
    assert info.value.status == 400


def test_non_json_error_body_is_reported(fake_tfserving: FakeTFServing) -> None:
    fake_tfserving.handler = lambda path, body: (502, b"<html>bad gateway</html>")
    with pytest.raises(TFServingError, match="502.*not JSON"):
        TFServingRanker(fake_tfserving.url).score("deepfm", _batch(2))


def test_wrong_number_of_scores_is_an_error(fake_tfserving: FakeTFServing) -> None:
    fake_tfserving.handler = lambda path, body: (200, {"outputs": [[0.5]]})
    with pytest.raises(TFServingError, match="1 scores for 3 candidates"):
        TFServingRanker(fake_tfserving.url).score("deepfm", _batch(3))


def test_slow_server_times_out_within_the_bound(fake_tfserving: FakeTFServing) -> None:
    def slow(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        time.sleep(1.5)
        return FakeTFServing.echo_scores(path, body)

    fake_tfserving.handler = slow
    started = time.monotonic()
    with pytest.raises(TFServingError, match="timed out after 0.3s"):
        TFServingRanker(fake_tfserving.url, timeout_s=0.3).score("deepfm", _batch(2))
    assert time.monotonic() - started < 1.2


def test_unreachable_server_is_a_clear_error() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ranker = TFServingRanker(f"http://127.0.0.1:{port}", timeout_s=0.5)
    with pytest.raises(TFServingError, match="unreachable"):
        ranker.score("deepfm", _batch(2))


def test_pinned_version_falls_back_to_latest_only_on_404(fake_tfserving: FakeTFServing) -> None:
    def versioned(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        if "/versions/" in path:
            return 404, {"error": "Servable not found for request: Specific(deepfm, 42)"}
        return FakeTFServing.echo_scores(path, body)

    fake_tfserving.handler = versioned
    scores = TFServingRanker(fake_tfserving.url).score("deepfm", _batch(2), version=42)
    assert [p for p, _ in fake_tfserving.requests] == [
        "/v1/models/deepfm/versions/42:predict",
        "/v1/models/deepfm:predict",
    ]
    assert scores.shape == (2,)

    fake_tfserving.handler = lambda path, body: (500, {"error": "boom"})
    with pytest.raises(TFServingError, match="boom"):
        TFServingRanker(fake_tfserving.url).score("deepfm", _batch(2), version=42)


def test_empty_batch_makes_no_request(fake_tfserving: FakeTFServing) -> None:
    scores = TFServingRanker(fake_tfserving.url).score("deepfm", {"movieId": np.zeros(0, dtype=np.int64)})
    assert scores.shape == (0,) and fake_tfserving.requests == []


def test_parse_scores_accepts_named_outputs_and_row_format() -> None:
    np.testing.assert_allclose(parse_scores({"outputs": {"output_0": [[0.1], [0.2]]}}, 2), [0.1, 0.2])
    np.testing.assert_allclose(parse_scores({"predictions": [0.3, 0.4]}, 2), [0.3, 0.4])
    np.testing.assert_allclose(parse_scores({"outputs": {"a": [1], "b": [2]}}, 1, output="b"), [2.0])
    with pytest.raises(TFServingError, match="several outputs"):
        parse_scores({"outputs": {"a": [1], "b": [2]}}, 1)
    with pytest.raises(TFServingError, match="not numbers"):
        parse_scores({"outputs": ["x"]}, 1)


# --- model repository -----------------------------------------------------------------------------


def test_tfserving_version_is_monotonic_in_bundle_order() -> None:
    t0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
    versions = [
        new_version("ab" * 32, t0 + timedelta(microseconds=d)) for d in (0, 1, 999_999, 86_400_000_000)
    ]
    numbers = [tfserving_version(v) for v in versions]
    assert numbers == sorted(numbers) and len(set(numbers)) == 4
    assert all(0 < n < 2**63 for n in numbers)
    assert numbers[1] - numbers[0] == 1  # microsecond resolution, exact
    with pytest.raises(ValueError, match="does not start"):
        tfserving_version("latest")


def test_model_config_text_lists_every_model() -> None:
    text = model_config_text({"din": "/models/din", "deepfm": "/models/deepfm"}, keep_versions=2)
    assert text.startswith("model_config_list {")
    assert text.count("config {") == 2
    assert 'name: "deepfm"\n    base_path: "/models/deepfm"' in text
    assert "latest { num_versions: 2 }" in text
    assert text.count("{") == text.count("}")


def _publish_fake_bundle(artifacts: Path, when: datetime, models: tuple[str, ...] = ("deepfm", "din")) -> str:
    version = new_version("cd" * 32, when)
    with write_bundle(artifacts, version) as writer:
        for name in models:
            model_dir = writer.model_dir(name)
            (model_dir / "variables").mkdir(parents=True)
            (model_dir / "saved_model.pb").write_bytes(f"{name}@{version}".encode())
            writer.manifest["models"][name] = {"feature_spec": []}
        writer.commit()
    return version


def test_sync_lays_out_numeric_versions_config_and_prunes(tmp_path: Path) -> None:
    artifacts, out = tmp_path / "artifacts", tmp_path / "tfs"
    out.mkdir()
    t0 = datetime(2025, 3, 1, tzinfo=timezone.utc)
    v1 = _publish_fake_bundle(artifacts, t0)

    assert sync_model_repository(artifacts, out, serving_root="/models") == {
        "deepfm": tfserving_version(v1),
        "din": tfserving_version(v1),
    }
    pb = out / "deepfm" / str(tfserving_version(v1)) / "saved_model.pb"
    assert pb.read_bytes() == f"deepfm@{v1}".encode()
    config = (out / "models.config").read_text()
    assert 'base_path: "/models/din"' in config and 'name: "deepfm"' in config

    versions = [v1]
    for hours in (1, 2):
        versions.append(_publish_fake_bundle(artifacts, t0 + timedelta(hours=hours)))
        assert read_current(artifacts) == versions[-1]
        sync_model_repository(artifacts, out, keep_versions=2)
        sync_model_repository(artifacts, out, keep_versions=2)  # idempotent
    kept = sorted(p.name for p in (out / "din").iterdir())
    assert kept == sorted(str(tfserving_version(v)) for v in versions[-2:])
    assert not any(p.name.startswith(".") for p in (out / "din").iterdir()), "staging dirs left behind"
    assert f'base_path: "{out}/din"' in (out / "models.config").read_text()


def test_sync_cli_once_and_without_a_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync", "--artifacts", str(tmp_path / "none"), "--out", str(tmp_path / "tfs")]) == 1
    assert "no bundle published" in capsys.readouterr().err
    _publish_fake_bundle(
        tmp_path / "artifacts", datetime(2025, 1, 1, tzinfo=timezone.utc), models=("deepfm",)
    )
    assert main(["sync", "--artifacts", str(tmp_path / "artifacts"), "--out", str(tmp_path / "tfs")]) == 0
    assert (tmp_path / "tfs" / "models.config").is_file()
