"""Console capture: stdout and stderr are copied into the active run while still printed."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO


class Tee:
    """A text stream that writes through to the original and keeps a copy per stream.

    Only Python-level writes are seen; output written by C extensions or child
    processes straight to the file descriptor is not captured.
    """

    def __init__(self, original: TextIO, stream: str, sink: ConsoleBuffer) -> None:
        self._original = original
        self._stream = stream
        self._sink = sink

    def write(self, text: str) -> int:
        self._sink.append(self._stream, text)
        return self._original.write(text)

    def flush(self) -> None:
        self._original.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding...
        return getattr(self._original, name)


class ConsoleBuffer:
    """Chunks of console text waiting to be written to the store."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self._lock = threading.Lock()
        self._rows: list[dict[str, Any]] = []

    def append(self, stream: str, text: str) -> None:
        if not text:
            return
        with self._lock:
            self._rows.append(
                {"run_id": self.run_id, "stream": stream, "timestamp": time.time(), "text": text}
            )

    def drain(self) -> list[dict[str, Any]]:
        with self._lock:
            rows, self._rows = self._rows, []
        return rows


class ConsoleCapture:
    """Installs tees on ``sys.stdout``/``sys.stderr`` and restores them on stop."""

    def __init__(self, buffer: ConsoleBuffer) -> None:
        self.buffer = buffer
        self._saved: tuple[TextIO, TextIO] | None = None

    def start(self) -> None:
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout = Tee(sys.stdout, "stdout", self.buffer)
        sys.stderr = Tee(sys.stderr, "stderr", self.buffer)

    def stop(self) -> None:
        if self._saved is not None:
            sys.stdout, sys.stderr = self._saved
            self._saved = None
