"""A child run is in its parent's experiment. Visibility on a team server is by
experiment, so a run tree that crossed experiments would show a hidden experiment's runs
as the children of a visible one (and a writer could hang its runs under a run it may
not see). Refused at creation, with one message whether the parent is missing or in
another experiment, so the refusal says nothing about a run the caller cannot see."""

from __future__ import annotations

import pytest

import lockgate as lg
from lockgate.config import Settings
from lockgate.errors import NotFoundError


def test_a_child_starts_in_its_parents_experiment(settings: Settings) -> None:
    with lg.start_run("pipeline", experiment="team", settings=settings, capture_code=False,
                      sample_hardware=False) as parent:
        child = lg.start_run("step", experiment="team", parent=parent, settings=settings,
                             capture_code=False, sample_hardware=False)
        child.end()
    assert lg.store.Store.open(settings).get_run(child.id).parent_id == parent.id


@pytest.mark.parametrize("parent_of", ["another experiment", "no run"])
def test_a_child_in_another_experiment_is_refused(settings: Settings, parent_of: str) -> None:
    with lg.start_run("theirs", experiment="hidden", settings=settings, capture_code=False,
                      sample_hardware=False) as theirs:
        pass
    parent = theirs.id if parent_of == "another experiment" else "0123456789abcdef"
    store = lg.store.Store.open(settings)
    before = len(store.list_runs(limit=None))
    with pytest.raises(NotFoundError) as refused:
        lg.start_run("mine", experiment="team", parent=parent, settings=settings,
                     capture_code=False, sample_hardware=False)
    message = str(refused.value)
    assert f"No run `{parent}` in experiment `team`" in message
    assert "hidden" not in message  # the same words for both cases
    assert len(store.list_runs(limit=None)) == before  # nothing was created
