"""Reading an MLflow tracking store without MLflow: its file store (``mlruns/`` folders
of YAML and text files) and its SQLite store (plain SQL, opened read-only), into small
records the importer turns into lockgate runs, artifacts and models.

Why not MLflow's client: MLflow is a heavy dependency with its own pins; its store
formats are documented and stable, and reading them needs only YAML and sqlite3.
Artifact URIs recorded as absolute ``file://`` paths are re-rooted under the store's own
folder when the store was moved (the usual case for a copied ``mlruns``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import yaml

from lockgate.errors import LockgateError


class MlflowStoreError(LockgateError, ValueError):
    """The tracking URI is not an MLflow store lockgate can read."""


@dataclass(frozen=True, slots=True)
class MlflowRun:
    """One MLflow run: params and tags as strings, metrics as (key, value, ms, step)."""

    run_id: str
    experiment: str
    name: str
    status: str
    start_ms: int | None
    end_ms: int | None
    params: dict[str, str]
    tags: dict[str, str]
    metrics: list[tuple[str, float, int, int]]
    artifact_dir: Path | None
    model_dirs: dict[str, Path] = field(default_factory=dict)  # logged model name -> dir


@dataclass(frozen=True, slots=True)
class MlflowModelVersion:
    """One version of a registered model, with the aliases pointing at it."""

    name: str
    version: int
    run_id: str | None
    model_dir: Path | None
    aliases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MlflowStore:
    """Everything read from one store."""

    uri: str
    experiments: list[str]
    runs: list[MlflowRun]
    versions: list[MlflowModelVersion]


def read_store(uri: str, experiments: list[str] | None = None) -> MlflowStore:
    """Read a file store (a folder or ``file://`` URI) or a SQLite store (``sqlite:///``).

    Raises:
        MlflowStoreError: another scheme (a tracking server: export it to a file or
            SQLite store first), or a path that is not an MLflow store.
    """
    if uri.startswith("sqlite:///"):
        return _read_sqlite(Path(uri[len("sqlite:///"):]), uri, experiments)
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return _read_files(Path(unquote(parsed.path) if parsed.scheme else uri), uri,
                           experiments)
    raise MlflowStoreError(
        f"Tracking URI `{uri}` has scheme `{parsed.scheme}`; lockgate reads MLflow's file "
        "store (a folder or file://...) and SQLite store (sqlite:///path.db). For a "
        "tracking server, point at its backend store instead.")


# -- file store -----------------------------------------------------------------------


def _read_files(root: Path, uri: str, wanted: list[str] | None) -> MlflowStore:
    if not root.is_dir():
        raise MlflowStoreError(f"{root} is not a folder; an MLflow file store is the "
                               "`mlruns` folder.")
    experiments: dict[str, Path] = {}
    for folder in sorted(root.iterdir()):
        meta = _yaml(folder / "meta.yaml")
        if folder.name != "models" and meta.get("lifecycle_stage") == "active" and "name" in meta:
            experiments[str(meta["name"])] = folder
    _check_wanted(wanted, experiments, uri)
    runs = [run for name, folder in experiments.items() if not wanted or name in wanted
            for run in _file_runs(root, folder, name)]
    return MlflowStore(uri, sorted(experiments), runs, list(_file_versions(root)))


def _file_runs(root: Path, folder: Path, experiment: str) -> Iterator[MlflowRun]:
    models = _file_models(root, folder)
    for run_dir in sorted(p for p in folder.iterdir() if p.is_dir() and p.name != "models"):
        meta = _yaml(run_dir / "meta.yaml")
        if not meta.get("run_id") or meta.get("lifecycle_stage") != "active":
            continue
        metrics = []
        for path in _files(run_dir / "metrics"):
            key = path.relative_to(run_dir / "metrics").as_posix()
            for line in path.read_text(encoding="utf-8").splitlines():
                ts, value, *step = line.split()
                metrics.append((key, float(value), int(ts), int(step[0]) if step else 0))
        run_id = str(meta["run_id"])
        artifacts = _local(root, meta.get("artifact_uri"))
        yield MlflowRun(
            run_id, experiment, str(meta.get("run_name") or run_id),
            _status(meta.get("status")), meta.get("start_time"), meta.get("end_time"),
            _text_dir(run_dir / "params"), _text_dir(run_dir / "tags"), metrics, artifacts,
            _run_models(models, run_id, artifacts))


def _file_models(root: Path, folder: Path) -> dict[tuple[str, str], Path]:
    found: dict[tuple[str, str], Path] = {}
    for model in sorted((folder / "models").glob("*/meta.yaml")):
        meta = _yaml(model)
        location = _local(root, meta.get("artifact_location"))
        if location is not None and meta.get("source_run_id"):
            found[(str(meta["source_run_id"]), str(meta.get("name", "model")))] = location
    return found


def _file_versions(root: Path) -> Iterator[MlflowModelVersion]:
    for model in sorted((root / "models").glob("*/meta.yaml")):
        meta = _yaml(model)
        aliases = {str(k): int(v) for k, v in (meta.get("aliases") or {}).items()}
        for version_meta in sorted(model.parent.glob("version-*/meta.yaml")):
            v = _yaml(version_meta)
            number = int(v["version"])
            yield MlflowModelVersion(
                str(meta["name"]), number, v.get("run_id"),
                _local(root, v.get("storage_location") or v.get("source")),
                tuple(sorted(a for a, n in aliases.items() if n == number)))


# -- SQLite store -----------------------------------------------------------------------


def _read_sqlite(path: Path, uri: str, wanted: list[str] | None) -> MlflowStore:
    if not path.is_file():
        raise MlflowStoreError(f"No SQLite file at {path}.")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        conn.execute("SELECT 1 FROM runs LIMIT 1")
    except sqlite3.Error as exc:
        raise MlflowStoreError(f"{path} is not an MLflow SQLite store: {exc}") from exc
    root = path.parent
    with conn:
        experiments = {name: eid for eid, name in conn.execute(
            "SELECT experiment_id, name FROM experiments WHERE lifecycle_stage = 'active'")}
        _check_wanted(wanted, experiments, uri)
        chosen = {eid: name for name, eid in experiments.items() if not wanted or name in wanted}
        models = _sqlite_models(conn, root)
        runs = [_sqlite_run(conn, root, row, chosen[row[5]], models) for row in conn.execute(
            "SELECT run_uuid, name, status, start_time, end_time, experiment_id, artifact_uri "
            "FROM runs WHERE lifecycle_stage = 'active' ORDER BY start_time")
            if row[5] in chosen]
        aliases: dict[tuple[str, int], list[str]] = {}
        for alias, version, name in conn.execute(
                "SELECT alias, version, name FROM registered_model_aliases"):
            aliases.setdefault((name, int(version)), []).append(alias)
        versions = [MlflowModelVersion(name, int(version), run_id,
                                       _local(root, location or source),
                                       tuple(sorted(aliases.get((name, int(version)), []))))
                    for name, version, run_id, location, source in conn.execute(
                        "SELECT name, version, run_id, storage_location, source "
                        "FROM model_versions ORDER BY name, version")]
    conn.close()
    return MlflowStore(uri, sorted(experiments), runs, versions)


def _sqlite_models(conn: sqlite3.Connection, root: Path) -> dict[tuple[str, str], Path]:
    try:
        rows = conn.execute("SELECT source_run_id, name, artifact_location FROM logged_models "
                            "WHERE source_run_id IS NOT NULL").fetchall()
    except sqlite3.OperationalError:  # stores older than MLflow 3 keep models in the run
        return {}
    found = {}
    for run_id, name, location in rows:
        local = _local(root, location)
        if local is not None:
            found[(str(run_id), str(name))] = local
    return found


def _sqlite_run(conn: sqlite3.Connection, root: Path, row: tuple[Any, ...], experiment: str,
                models: dict[tuple[str, str], Path]) -> MlflowRun:
    run_id = row[0]
    params = dict(conn.execute("SELECT key, value FROM params WHERE run_uuid = ?", (run_id,)))
    tags = dict(conn.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (run_id,)))
    metrics = [(k, float("nan") if nan else float(v), int(ts), int(step))
               for k, v, ts, step, nan in conn.execute(
                   "SELECT key, value, timestamp, step, is_nan FROM metrics WHERE run_uuid = ? "
                   "ORDER BY key, step, timestamp", (run_id,))]
    artifacts = _local(root, row[6])
    return MlflowRun(run_id, experiment, row[1] or run_id, _status(row[2]), row[3], row[4],
                     params, tags, metrics, artifacts, _run_models(models, run_id, artifacts))


# -- shared -------------------------------------------------------------------------------


def _run_models(models: dict[tuple[str, str], Path], run_id: str,
                artifacts: Path | None) -> dict[str, Path]:
    """A run's models: MLflow 3 logged models, or (MLflow 2) MLmodel folders among its
    artifacts."""
    found = {name: path for (source, name), path in models.items() if source == run_id}
    if artifacts is not None:
        for spec in sorted(artifacts.rglob("MLmodel")):
            found.setdefault(spec.parent.relative_to(artifacts).as_posix(), spec.parent)
    return found



def _check_wanted(wanted: list[str] | None, found: Any, uri: str) -> None:
    missing = [name for name in wanted or [] if name not in found]
    if missing:
        raise MlflowStoreError(f"No experiment {missing} in {uri}; experiments: "
                               f"{', '.join(sorted(found))}.")


def _local(root: Path, uri: Any) -> Path | None:
    """A recorded artifact URI as a local folder, re-rooted under ``root`` when moved."""
    if not uri or not isinstance(uri, str):
        return None
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        return None  # s3://, models:/, dbfs:/ ... not reachable from here
    path = Path(unquote(parsed.path))
    if path.exists():
        return path
    parts = path.parts
    # longest suffix first, and never shorter than two names (`<run id>/artifacts`): a
    # bare `artifacts` would re-root a run without artifacts onto the whole store
    for start in range(1, len(parts) - 1):
        candidate = root.joinpath(*parts[start:])
        if candidate.exists():
            return candidate
    return None


def _yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    value = yaml.safe_load(path.read_text(encoding="utf-8"))
    return value if isinstance(value, dict) else {}


def _text_dir(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
            for p in _files(folder)}


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []


def _status(value: Any) -> str:
    names = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
    return names.get(value, str(value)) if isinstance(value, int) else str(value or "FINISHED")
