"""Model packages: round trip, manifest verification, tamper refusal, safe archives."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from lockgate_model_cases import CONTRACT, PROFILE, make_frame
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from lockgate.data.contract import Contract
from lockgate.registry import (
    PackageContents,
    PackageError,
    archive_package,
    extract_archive,
    load_package,
    write_package,
)
from lockgate.registry.package import example_requests, feature_columns


def _contents(pipeline=None) -> PackageContents:
    frame = make_frame(200)
    if pipeline is None:
        x = frame.select(["age", "income", "tenure"]).to_pandas()
        pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(
            x, frame["churned"].to_numpy())
    return PackageContents(pipeline=pipeline, contract=Contract.from_dict(CONTRACT),
                           reference_profile=PROFILE,
                           evaluation={"problem_type": "binary", "metrics": {"roc_auc": 0.7}},
                           lineage={"run_id": "abc"}, model_card="# card",
                           holdout=frame[150:])


@pytest.fixture
def package(tmp_path: Path) -> Path:
    return write_package(_contents(), tmp_path / "pkg")


def test_round_trip_loads_everything(package: Path) -> None:
    loaded = load_package(package)
    assert loaded.feature_columns == ["age", "income", "tenure"]
    assert loaded.contract.target == "churned"
    assert loaded.reference_profile == PROFILE
    assert loaded.holdout().height == 50
    assert set(loaded.manifest["files"]) >= {"model.skops", "MODEL_CARD.md", "environment.json"}
    assert "scikit-learn" in loaded.environment["requirements"]
    rows = loaded.examples
    assert loaded.pipeline.predict(__import__("pandas").DataFrame(rows)).shape == (3,)


def test_changed_file_is_refused(package: Path) -> None:
    data = json.loads((package / "evaluation.json").read_text())
    data["metrics"]["roc_auc"] = 0.99
    (package / "evaluation.json").write_text(json.dumps(data))
    with pytest.raises(PackageError, match=r"`evaluation.json` hashes to .* the manifest says"):
        load_package(package)


def test_missing_file_is_refused(package: Path) -> None:
    (package / "model.skops").unlink()
    with pytest.raises(PackageError, match=r"`model.skops` is listed in the manifest but missing"):
        load_package(package)


def test_added_file_is_refused(package: Path) -> None:
    (package / "backdoor.py").write_text("print('hi')")
    with pytest.raises(PackageError, match=r"`backdoor.py` is in the folder but not in the "
                                           "manifest"):
        load_package(package)


def test_manifest_without_required_file_is_refused(package: Path) -> None:
    manifest = json.loads((package / "MANIFEST.json").read_text())
    del manifest["files"]["contract.json"]
    (package / "MANIFEST.json").write_text(json.dumps(manifest))
    (package / "contract.json").unlink()
    with pytest.raises(PackageError, match=r"required file `contract.json` is not in the "
                                           "manifest"):
        load_package(package)


def test_untrusted_type_is_refused(tmp_path: Path) -> None:
    frame = make_frame(100)
    pipeline = make_pipeline(FunctionTransformer(json.dumps), LogisticRegression())
    pipeline.steps[1][1].fit(frame.select(["age"]).to_pandas(), frame["churned"].to_numpy())
    folder = write_package(_contents(pipeline), tmp_path / "pkg")
    with pytest.raises(PackageError, match=r"outside lockgate's allowlist: `json.dumps`"):
        load_package(folder)


def test_archive_round_trip(package: Path, tmp_path: Path) -> None:
    archive = archive_package(package, tmp_path / "model.tar.gz")
    loaded = load_package(archive, extract_to=tmp_path / "unpacked")
    assert loaded.path == (tmp_path / "unpacked").resolve()
    assert loaded.lineage == {"run_id": "abc"}


def _tar(tmp_path: Path, members: list[tarfile.TarInfo]) -> Path:
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for info in members:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path


def test_archive_path_traversal_is_refused(tmp_path: Path) -> None:
    info = tarfile.TarInfo("../escape.txt")
    info.size = 1
    archive = _tar(tmp_path, [info])
    with pytest.raises(PackageError, match=r"(?s)Refusing archive .*`\.\.` is not allowed"):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_archive_links_and_absolute_names_are_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo("model.skops")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    absolute = tarfile.TarInfo("/tmp/abs.txt")
    absolute.size = 1
    archive = _tar(tmp_path, [link, absolute])
    with pytest.raises(PackageError, match=r"(?s)`model.skops` is not a regular file.*must be "
                                           "relative"):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_not_an_archive_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.tar.gz"
    bogus.write_bytes(b"not a tar")
    with pytest.raises(PackageError, match="is not a model package archive"):
        load_package(bogus)


def test_examples_respect_the_contract() -> None:
    examples = example_requests(CONTRACT)
    assert [set(e) for e in examples] == [set(feature_columns(CONTRACT))] * 3
    assert all(18 <= e["age"] <= 100 and 0 <= e["tenure"] <= 50 for e in examples)


def test_an_altered_unpacked_copy_is_replaced(package: Path, tmp_path: Path) -> None:
    archive = archive_package(package, tmp_path / "model.tar.gz")
    target = tmp_path / "cache"
    extract_archive(archive, target)
    (target / "evaluation.json").write_text("{}")
    (target / "extra.py").write_text("x = 1")
    loaded = load_package(archive, extract_to=target)
    assert loaded.evaluation["metrics"] == {"roc_auc": 0.7}
    assert not (target / "extra.py").exists()


def test_unpacking_over_foreign_files_is_refused(package: Path, tmp_path: Path) -> None:
    archive = archive_package(package, tmp_path / "model.tar.gz")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("mine")
    with pytest.raises(PackageError, match="holds files that are not a model package"):
        extract_archive(archive, tmp_path / "home")
    assert (tmp_path / "home" / "notes.txt").read_text() == "mine"


def test_the_card_is_written_once_with_the_environment_recorded(tmp_path: Path) -> None:
    # The registry used to write a placeholder card, then rewrite it and re-seal the
    # manifest from outside this module; now write_package renders it once.
    seen: list[dict] = []

    def card(environment: dict) -> str:
        seen.append(dict(environment))
        return f"# card\npython {environment['python']}\n"

    folder = write_package(_contents(), tmp_path / "pkg", card=card)
    loaded = load_package(folder)  # every file's digest checked against the manifest
    assert len(seen) == 1 and seen[0] == loaded.environment
    assert loaded.model_card == f"# card\npython {loaded.environment['python']}\n"
    assert loaded.environment["python"] and "scikit-learn" in loaded.environment[
        "requirements"]
