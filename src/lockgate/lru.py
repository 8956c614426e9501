"""A bounded, thread-safe least-recently-used map for the process-global caches.

Why: a cache kept per table (the keys a stream consumer checks duplicates against, the
landed label groups, the column statistics of the last version) lives as long as the
process. A long-lived worker that touches many tables would otherwise keep every one of
them in memory. Each cache states its bound; past it, the entry used longest ago goes
and is rebuilt from the table on its next use, so the bound costs a re-read, never a
wrong answer.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """At most ``maxsize`` entries; reading or writing an entry makes it the newest."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"an LRU cache holds at least 1 entry, not {maxsize}")
        self.maxsize = maxsize
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The entry, now the newest, or None."""
        with self._lock:
            if key not in self._entries:
                return None
            self._entries.move_to_end(key)
            return self._entries[key]

    def __setitem__(self, key: K, value: V) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def pop(self, key: K, default: V | None = None) -> V | None:
        """Drop an entry (a table rewritten in a way the cache cannot follow)."""
        with self._lock:
            return self._entries.pop(key, default)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def ordered_keys(self) -> list[K]:
        """The keys, oldest first."""
        with self._lock:
            return list(self._entries)
