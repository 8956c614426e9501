"""One holder of the registry's SQL: the embedded backend. The reader and the registry
read through the store's backend, so a local store and ``lockgate server`` answer the
same reads through the same interface."""

from __future__ import annotations

import ast
from pathlib import Path

import lockgate.registry

REGISTRY = Path(lockgate.registry.__file__).parent
#: Modules of the registry stage that may speak SQL, and why.
SQL_HOLDERS = {
    "embedded_backend.py": "the registry's tables",
    "mlflow_import.py": "which runs an earlier import brought in (core tags), embedded-only",
}


def _imports_sqlalchemy(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any((isinstance(node, ast.Import) and any(a.name.startswith("sqlalchemy")
                                                    for a in node.names))
               or (isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                   "sqlalchemy")) for node in ast.walk(tree))


def test_only_the_embedded_backend_holds_registry_sql() -> None:
    speaking = {p.name for p in REGISTRY.glob("*.py") if _imports_sqlalchemy(p)}
    assert speaking - set(SQL_HOLDERS) == set(), "registry SQL outside the embedded backend"


def test_the_reader_reads_through_the_backend(tmp_path: Path) -> None:
    from lockgate.registry.embedded_backend import EmbeddedBackend
    from lockgate.registry.model_version import RegistryReader
    from lockgate.store import Store
    from tests.conftest import make_settings

    reader = RegistryReader(Store.open(make_settings(tmp_path / ".lockgate")))
    assert isinstance(reader.backend, EmbeddedBackend)
    assert reader.models() == [] and reader.all_versions() == []
    assert reader.version_count() == 0 and reader.versions_from(["x"], ["y"]) == []
