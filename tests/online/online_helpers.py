"""Constants and helpers shared by the online tests (import this, not conftest)."""

from __future__ import annotations

from typing import Any

ADMIN_TOKEN = "test-admin-token"


def known_user(client: Any) -> int:
    """A user with offline history in the client's bundle."""
    return int(client.app.state.service.sample_user_ids(5)[0])


def dead_url() -> str:
    """A loopback URL nothing listens on (for dependency-down tests)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
