"""Soft delete and restore of runs: hidden from every listing, refused where lineage keeps
the run, restorable until gc purges it."""

from __future__ import annotations

import pytest

import lockgate as lg
from lockgate.config import Settings
from lockgate.errors import NotFoundError
from lockgate.retention import RunDeletionError, delete_runs, deleted_runs, restore_runs
from lockgate.store import Store
from lockgate.store.run_query import RunQuery, query_runs
from lockgate.tracking import search_runs, start_run


def _run(settings: Settings, name: str, *, parent: str | None = None,
         experiment: str = "exp") -> str:
    with start_run(name, experiment=experiment, settings=settings, parent=parent,
                   capture_console=False, sample_hardware=False, capture_code=False) as run:
        run.log_metric("loss", 1.0)
    return run.id


def test_a_deleted_run_is_hidden_from_listings_search_and_dashboard(
        any_settings: Settings) -> None:
    store = Store.open(any_settings)
    keep, gone = _run(any_settings, "keep"), _run(any_settings, "gone")
    deleted = delete_runs([gone[:8]], settings=any_settings)
    assert [r.id for r in deleted] == [gone] and deleted[0].deleted_at is not None
    assert [r.id for r in store.list_runs()] == [keep]
    assert list(search_runs(settings=any_settings)["run_id"]) == [keep]
    assert list(search_runs("metrics.loss = 1", settings=any_settings)["run_id"]) == [keep]
    page = query_runs(store, RunQuery())
    assert [r.id for r in page.runs] == [keep] and page.total == 1
    assert store.count_runs() == 1
    # still readable by id, marked as deleted
    assert store.get_run(gone).deleted_at is not None
    assert [r.id for r in deleted_runs(store)] == [gone]


def test_restore_brings_a_run_back_with_its_steps(settings: Settings) -> None:
    store = Store.open(settings)
    parent = _run(settings, "pipeline")
    child = _run(settings, "step", parent=parent)
    assert {r.id for r in delete_runs([parent], settings=settings)} == {parent, child}
    assert store.list_runs(parent_id=parent) == []
    # restoring the step brings back its pipeline run too: a step is never orphaned
    restored = restore_runs([child], settings=settings)
    assert {r.id for r in restored} == {parent, child}
    assert [r.id for r in store.list_runs(parent_id=parent)] == [child]
    assert restore_runs([child], settings=settings) == []  # nothing left to restore


def test_deleting_a_run_that_trained_a_registered_version_is_refused(
        settings: Settings) -> None:
    from lockgate_model_cases import registered

    _registry, trained = registered(settings, versions=2)
    other = _run(settings, "unrelated")
    with pytest.raises(RunDeletionError, match=r"trained the registered model version\(s\) "
                       r"churn@1 \(production\)") as caught:
        delete_runs([trained[0].run_id, other], settings=settings)
    assert "nothing was deleted" in str(caught.value)
    assert Store.open(settings).get_run(other).deleted_at is None  # all or nothing
    with pytest.raises(RunDeletionError, match=r"churn@2"):
        delete_runs([trained[1].run_id], settings=settings)


def test_deleting_a_pipeline_whose_step_trained_a_version_is_refused(
        settings: Settings) -> None:
    from lockgate_model_cases import CONTRACT, PROFILE, make_frame, train_run

    from lockgate.registry import Registry

    store = Store.open(settings)
    pipeline = _run(settings, "pipeline")
    trained = train_run(settings, make_frame())
    store.execute_write(lg.store.schema.runs.update()
                        .where(lg.store.schema.runs.c.id == trained.run_id)
                        .values(parent_id=pipeline))
    Registry(store, settings).register("churn", trained.run_id, contract=CONTRACT,
                                       reference_profile=PROFILE, holdout=trained.holdout)
    with pytest.raises(RunDeletionError, match=rf"a descendant of {pipeline}.*churn@1"):
        delete_runs([pipeline], settings=settings)


def test_an_upstream_run_of_a_registered_version_is_refused_naming_it(
        settings: Settings) -> None:
    from lockgate_model_cases import registered

    store = Store.open(settings)
    _registry, trained = registered(settings)
    ingest = _run(settings, "ingest")
    dv = store.add_dataset_version("customers", rows_ingested=1, rows_accepted=1,
                                   run_id=ingest)
    store.add_lineage(trained[0].run_id, "consumed", dataset_version_id=dv.id)
    with pytest.raises(RunDeletionError, match=r"kept by lineage: produced customers@v\d+, "
                       r"upstream of churn@1 \(production\)"):
        delete_runs([ingest], settings=settings)


def test_unknown_and_running_runs(settings: Settings) -> None:
    with pytest.raises(NotFoundError, match="No run with id `nope`"):
        delete_runs(["nope"], settings=settings)
    with start_run("live", settings=settings, capture_console=False, sample_hardware=False,
                   capture_code=False) as run, pytest.raises(RunDeletionError,
                                                             match="still running"):
        delete_runs([run.id], settings=settings)


def test_cli_delete_restore_and_refusal(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from lockgate_model_cases import registered

    from lockgate.cli.main import main

    monkeypatch.setenv("LOCKGATE_HOME", str(settings.home))
    run_id = _run(settings, "gone")
    assert main(["runs", "delete", run_id[:6]]) == 0
    assert f"Deleted run {run_id}" in capsys.readouterr().out
    assert main(["runs", "list", "-c", "id"]) == 0
    assert run_id not in capsys.readouterr().out
    assert main(["runs", "show", run_id]) == 0
    assert "Deleted" in capsys.readouterr().out
    assert main(["runs", "restore", run_id]) == 0
    assert f"Restored run {run_id}" in capsys.readouterr().out
    assert main(["runs", "list", "-c", "id"]) == 0
    assert run_id in capsys.readouterr().out
    _registry, trained = registered(settings)
    assert main(["runs", "delete", trained[0].run_id]) == 1
    captured = capsys.readouterr()
    assert "churn@1 (production)" in captured.out + captured.err
    assert "Traceback" not in captured.out + captured.err


def test_a_refusal_from_lockgate_server_keeps_its_message_and_class() -> None:
    """The client rebuilds the server's RunDeletionError from its message: its problems
    are not the message's characters."""
    from lockgate.store.remote import _rebuilt

    message = str(RunDeletionError(["run 3f2a trained churn@2 (production)"]))
    rebuilt = _rebuilt(RunDeletionError, message)
    assert isinstance(rebuilt, RunDeletionError) and str(rebuilt) == message
    assert "  2. " not in str(rebuilt)
