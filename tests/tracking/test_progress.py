"""Progress: stages report tasks; a callback sees every event, the run's console log
keeps them as lines, and Rich bars are drawn only on a terminal and never when quiet."""

from __future__ import annotations

import io
import re
import threading

import lockgate as lg
from lockgate.config import Settings
from lockgate.store import Store
from lockgate.tracking import progress
from lockgate.tracking.progress import ProgressEvent


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_events_reach_callbacks_and_the_run_console_log(settings: Settings) -> None:
    events: list[ProgressEvent] = []
    with lg.start_run("work", settings=settings, sample_hardware=False) as run, \
            progress.reporting(events.append):
        with progress.task("folds", total=3, unit="folds") as bar:
            # executors report from worker threads
            workers = [threading.Thread(target=bar.advance) for _ in range(3)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
        print("after")
    assert [e.kind for e in events] == ["start", "advance", "advance", "advance", "end"]
    assert events[-1].completed == 3 and events[-1].elapsed >= 0
    log = Store.open(settings).console(run.id)
    assert "[progress] folds: started 0/3 folds" in log
    assert "[progress] folds: done 3/3 folds" in log
    assert log.index("done 3/3") < log.index("after")


def test_bars_only_on_a_terminal_and_never_when_quiet() -> None:
    piped, screen, quiet = io.StringIO(), Terminal(), Terminal()
    for stream, flag in ((piped, False), (screen, False), (quiet, True)):
        with progress.rich_progress(quiet=flag, file=stream), \
                progress.task("bootstrap", total=2, unit="replicates") as bar:
            bar.advance(2)
    assert piped.getvalue() == "" and quiet.getvalue() == ""
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    assert re.search(r"✓ bootstrap 2 replicates \d+\.\d s", drawn)  # with elapsed time


def test_event_lines_read_well() -> None:
    assert ProgressEvent("charts", "end", 0, None, 1.25).line() == \
        "[progress] charts: done (1.2 s)\n"
    assert ProgressEvent("cv", "advance", 2, 5, 3.0, "folds").line() == \
        "[progress] cv: at 2/5 folds (3.0 s)\n"
