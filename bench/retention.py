"""Benchmark: what `lockgate gc` does to a busy prediction log (one commit per request).

    .venv/bin/python bench/retention.py [--commits 500] [--repeat 3]

Two identical Delta logs of ``--commits`` one-row commits (what serving's prediction log
and the HTTP ingest endpoint write under light traffic) are built; gc (OPTIMIZE + VACUUM
within the log's policy) runs on one. Then reading the latest snapshot of each is timed,
interleaved (raw A, compacted B, A, B, ...). Figures: the gc pass's wall time, data
files and bytes before/after, read time of the raw log vs the compacted one. The issue
states no number: the goal is that files stop growing with commits (one file after gc)
and reading does not get slower.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

sys.path.insert(0, str(Path(__file__).parent))
from harness import Goal, Report, interleave, values
from lockgate.config import Settings
from lockgate.retention import Policies, collect_garbage
from lockgate.retention.table_maintenance import folder_bytes


def build_log(path: Path, commits: int) -> None:
    """``commits`` one-row appends, as a prediction log under light traffic."""
    for i in range(commits):
        write_deltalake(str(path), pa.table({"request_id": [f"r{i}"], "score": [i / commits],
                                             "ts": [time.time()]}), mode="append")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    report = Report("retention")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / ".lockgate"
        settings = Settings(home=home, gc_grace_seconds=0)
        raw = settings.resolved_data_root / "_predictions" / "raw"
        build_log(raw, args.commits)
        compacted = settings.resolved_data_root / "_predictions" / "compacted"
        shutil.copytree(raw, compacted)
        files_before = len(list(raw.glob("*.parquet")))
        bytes_before = folder_bytes(compacted)
        policies = Policies.from_mapping({"predictions": {"compacted": {"keep_last": 1},
                                                          "raw": {"keep_last": 1000000}}})
        started = time.perf_counter()
        shutil.move(str(raw), tmp + "/raw-aside")  # gc the compacted copy only
        gc = collect_garbage(dry_run=False, settings=settings, policies=policies)
        gc_seconds = time.perf_counter() - started
        shutil.move(tmp + "/raw-aside", str(raw))
        files_after = len(list(compacted.glob("*.parquet")))
        bytes_after = folder_bytes(compacted)
        series, results = interleave({
            "raw": lambda: DeltaTable(str(raw)).to_pyarrow_table().num_rows,
            "compacted": lambda: DeltaTable(str(compacted)).to_pyarrow_table().num_rows,
        }, repeats=args.repeat, warmup=1)
        assert set(results["raw"]) == set(results["compacted"]) == {args.commits}
        report.add("gc pass", f"{args.commits} commits ({len(gc.decisions)} decisions)",
                   wall=f"{gc_seconds:.2f} s")
        report.compare("data files after gc", lockgate=values([files_after]),
                       baseline=values([files_before]), unit="files",
                       goal=Goal.at_most(1, "1 file after gc", on="value", absolute=True))
        report.compare("log bytes (incl. _delta_log) after gc", lockgate=values([bytes_after]),
                       baseline=values([bytes_before]), unit="B")
        report.compare(f"read latest ({args.commits} rows): after gc vs the raw log",
                       lockgate=series["compacted"], baseline=series["raw"],
                       goal=Goal.at_most(1.0, "not slower than the raw log"))
    report.emit()


if __name__ == "__main__":
    main()
