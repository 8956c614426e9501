"""Version numbers read from the Delta log are right while other processes commit.

deltalake numbers the commits of ``history()`` down from the version the object has
loaded but lists the log as it is at that moment: a commit landing in between (a
concurrent ingest, ``lockgate gc``'s OPTIMIZE) shifted every number, so a batch was
found under the version of another commit (registered twice:
``tests/retention/test_concurrent_gc.py`` failed about 1 run in 4 under load).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from lockgate.data import table as delta


def _commit(path: Path, batch: str) -> None:
    properties = delta.CommitProperties(custom_metadata={
        delta.COMMIT_KEY: f'{{"batch_id": "{batch}"}}'})
    write_deltalake(str(path), pa.table({"a": [1]}), mode="append",
                    commit_properties=properties)


def test_commits_of_a_table_opened_before_other_commits_carry_their_own_versions(
        tmp_path: Path) -> None:
    path = tmp_path / "t"
    _commit(path, "b0")
    stale = DeltaTable(str(path))  # loaded at version 0
    _commit(path, "b1")
    _commit(path, "b2")
    assert [(c["version"], c["record"]["batch_id"]) for c in delta.commits(path, table=stale)] \
        == [(2, "b2"), (1, "b1"), (0, "b0")]
    assert delta.find_commit(path, "b1", DeltaTable(str(path), version=1)) == 1


def test_a_commit_landing_while_the_log_is_listed_does_not_shift_the_versions(
        tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "t"
    for i in range(3):
        _commit(path, f"b{i}")
    listing = DeltaTable.history
    landed: list[int] = []

    def racing(self: DeltaTable, limit: int | None = None) -> list:
        if not landed:  # another writer commits right after this object loaded the log
            landed.append(1)
            _commit(path, "late")
        return listing(self, limit)

    monkeypatch.setattr(DeltaTable, "history", racing)
    found = {c["record"]["batch_id"]: c["version"] for c in delta.commits(path)}
    assert found == {"b0": 0, "b1": 1, "b2": 2, "late": 3}
