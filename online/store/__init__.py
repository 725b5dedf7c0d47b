"""Stores behind one interface; :func:`open_store` picks the implementation from the settings."""

from __future__ import annotations

from online.store.base import CatalogData, Store, UserState
from online.store.file_store import FileStore
from sparrow.settings import Settings

__all__ = ["CatalogData", "FileStore", "Store", "UserState", "open_store"]


def open_store(settings: Settings) -> Store:
    """``RedisStore`` when ``settings.redis_url`` is a ``redis://`` URL, else ``FileStore`` over the bundles."""
    url = settings.redis_url
    if url and url.startswith(("redis://", "rediss://", "unix://")):
        from online.store.redis_store import RedisStore

        return RedisStore(
            url, settings.artifacts, prefix=settings.redis_prefix, timeout_s=settings.redis_timeout_s,
            user_cache_size=settings.user_cache_size,
        )
    return FileStore(settings.artifacts)
