"""The security corpus: attacks against real servers on 127.0.0.1 and real loaders.

Every attack that could run code aims at a canary file; the ``canary`` fixture fails
the test if the file changed or disappeared, whatever else the test asserts.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "registry" / "cases"))

CANARY_TEXT = "lockgate canary: must stay untouched\n"


class Canary:
    """A file the payloads try to overwrite."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def code(self) -> str:
        """Python source that overwrites the canary (what an attacker would run)."""
        return f"open({str(self.path)!r}, 'w').write('pwned')"

    def intact(self) -> bool:
        """Whether the canary still holds its original text."""
        return self.path.is_file() and self.path.read_text() == CANARY_TEXT


@pytest.fixture
def canary(tmp_path: Path) -> Iterator[Canary]:
    path = tmp_path / "canary.txt"
    path.write_text(CANARY_TEXT)
    watched = Canary(path)
    yield watched
    assert watched.intact(), f"the canary {path} was touched: an attack ran code"
