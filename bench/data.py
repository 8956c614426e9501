"""Benchmark of the data layer.

1. CSV -> validated Delta (lockgate.data.ingest, chunked, in bounded memory) against two
   baselines on the same file: the floor, Polars' own streaming
   ``scan_csv(...).sink_parquet(...)`` (issue #21), and a bare in-memory
   ``read_csv + write_delta`` (issue #18). Each sample is a fresh child process (so peak
   RSS is that case's own), the cases interleaved (floor, bare, ingest, floor ...,
   ``--repeats`` times); the first round is reported apart as "cold". Goals: ingest >= 0.8
   of bare read_csv + write_delta's throughput (#18), peak RSS flat from 10M rows
   up (#21: within a small factor), reported against the file size. ``--rows`` takes
   several sizes: the RSS-vs-size table is printed for each.
2. Validation alone (row mask, per-row reasons, per-check counts) on the same 12 checks,
   interleaved with a bare single-pass Polars expression and pandera's Polars and pandas
   backends. Goals: >= 0.85 of the bare pass, ahead of pandera-polars (and >= 10x
   pandera-pandas).
3. Redis Streams: rows/s landed and end-to-end lag (targets >= 20,000 rows/s, <= 2 s).

Wall and CPU time are medians [min-max] (bench/harness.py); load average at both ends.

Run: .venv/bin/python bench/data.py [--rows 5000000] [--stream-rows 200000]
     .venv/bin/python bench/data.py --rows 10000000 100000000 --ingestion-only \
         --data-dir /var/tmp/lgbench [--skip-bare]
   The CSV of each size is generated block by block (vectorised) and, with --data-dir,
   kept for later runs. Cases: the floor, bare (unless --skip-bare), lockgate ingest into
   local tables and into tables on a moto S3 server on 127.0.0.1 (unless --skip-s3; a
   source CSV on S3 is not supported: file sources are local paths).
Peers: .venv/bin/pip install -e ".[bench]" (pandera[polars]).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

import harness  # bench/ is on sys.path when this file runs as a script
from lockgate.config import Settings
from lockgate.data import ColumnSpec, Contract
from lockgate.data.normalize import map_columns, normalize
from lockgate.data.validation import compile_checks, evaluate
from lockgate.store import Store

CONTRACT = Contract(
    "bench", "1",
    (
        ColumnSpec("id", "int", nullable=False),                       # 1 null, 2 duplicate
        ColumnSpec("age", "int", min=18, max=100),                     # 3
        ColumnSpec("income", "float", min=0),                          # 4
        ColumnSpec("score", "float", min=0, max=1),                    # 5
        ColumnSpec("ratio", "float"),
        ColumnSpec("visits", "int", min=0),                            # 6
        ColumnSpec("plan", "category", allowed=("basic", "standard", "premium")),  # 7
        ColumnSpec("country", "category", allowed=("DE", "FR", "GB", "NL", "US")),  # 8
        ColumnSpec("email", "string", regex=r"^[^@]+@[^@]+\.[a-z]+$"),  # 9
        ColumnSpec("name", "string", max_length=12),                   # 10
        ColumnSpec("signup", "date", nullable=False),                  # 11
        ColumnSpec("active", "bool", nullable=False),                  # 12
    ),
    primary_key=("id",),
)
TARGETS = {"ingest_vs_bare": 0.8, "rss_growth": 2.0, "ingest_vs_floor": 0.8,
           "vs_pandera_pandas": 10.0, "vs_pandera_polars": 1.0,
           "vs_bare": 0.85, "stream_rows_per_s": 20_000, "stream_lag_s": 2.0}
CHILD = """
import json, resource, sys, time, os
from pathlib import Path
case, path, out, home = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4]
sys.path.insert(0, sys.argv[5])
import polars as pl
if case == "ingest":
    import data as bench
    from lockgate.config import Settings
    from lockgate.data import ingest
    from lockgate.store import Store
    settings = Settings(home=Path(home), data_root=os.environ.get("LG_BENCH_DATA_ROOT") or None)
    Store.open(settings)
t = os.times(); cpu0, wall0 = t.user + t.system, time.perf_counter()
if case == "floor":
    pl.scan_csv(path).sink_parquet(out)
    rows = None
elif case == "bare":
    pl.read_csv(path).write_delta(out)
    rows = None
else:
    import dataclasses, uuid  # a table of its own: a re-ingested file is not new data
    table = f"bench_{uuid.uuid4().hex[:8]}"
    contract = dataclasses.replace(bench.CONTRACT, table=table)
    result = ingest(path, table, contract, settings=settings)
    assert result.ingested == result.accepted + result.quarantined > 0, result
    rows = result.quarantined
t = os.times()
print(json.dumps({"wall": time.perf_counter() - wall0, "cpu": t.user + t.system - cpu0,
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "quarantined": rows}))
"""


#: Bumped when the generated CSV changes, so a cached file of an older layout is not reused.
GENERATOR = 2


def make_block(start: int, rows: int, seed: int) -> pl.DataFrame:
    """Rows ``start`` .. ``start + rows`` of the 12-column CSV, with about 1% bad values
    spread over the checks; vectorised (NumPy draws, Polars string building)."""
    rng = np.random.default_rng([seed, start])
    age = rng.integers(18, 90, rows)
    age[rng.random(rows) < 0.002] = 150
    income = rng.gamma(2, 20_000, rows).round(2)
    income[rng.random(rows) < 0.002] = -1
    ids = pl.Series("id", np.arange(start, start + rows))

    def pick(values: list[str], p: list[float] | None = None) -> pl.Series:
        return pl.Series(values).gather(rng.choice(len(values), rows, p=p))

    return pl.DataFrame({
        "id": ids, "age": age, "income": income,
        "score": rng.random(rows).round(4), "ratio": rng.normal(0, 1, rows).round(4),
        "visits": rng.poisson(3, rows),
        "plan": pick(["basic", "standard", "premium", "gold"], [0.5, 0.3, 0.198, 0.002]),
        "country": pick(["DE", "FR", "GB", "NL", "US"]),
        "email": "u" + ids.cast(pl.String) + "@example.com",
        "name": pick(["ann", "bob", "carla", "dimitri", "alexandrapetrova"],
                     [0.3, 0.3, 0.2, 0.198, 0.002]),
        # days since 1970: 2020-01-01 .. 2024-12-31
        "signup": pl.Series(rng.integers(18262, 18262 + 1827, rows)).cast(pl.Int32)
        .cast(pl.Date),
        "active": rng.random(rows) < 0.7,
    })


def make_csv(path: Path, rows: int, seed: int = 0, block: int = 2_000_000) -> None:
    """The bench CSV, written block by block (memory: one block, whatever ``rows``) to a
    temporary name, renamed when complete (an interrupted run leaves no half file)."""
    part = path.with_name(path.name + ".part")
    with part.open("wb") as out:
        for start in range(0, rows, block):
            make_block(start, min(block, rows - start), seed).write_csv(
                out, include_header=start == 0)
    part.replace(path)


def cached_csv(folder: Path, rows: int, seed: int = 0) -> Path:
    """The CSV of ``rows`` rows and ``seed`` in ``folder``, generated on first use and
    reused by later runs (keyed by size, seed and generator version)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"bench-{rows}-seed{seed}-g{GENERATOR}.csv"
    if not path.exists():
        began = time.perf_counter()
        print(f"generating {rows:,} rows x 12 columns into {path} ...", flush=True)
        make_csv(path, rows, seed)
        print(f"  generated in {time.perf_counter() - began:.1f} s "
              f"({path.stat().st_size / 1e9:.2f} GB)", flush=True)
    else:
        print(f"using the cached {path} ({path.stat().st_size / 1e9:.2f} GB)", flush=True)
    return path


def child(case: str, path: Path, work: Path,
          s3: S3 | None = None) -> tuple[harness.Sample, dict]:
    """One ingestion sample in a fresh process: its wall, CPU and peak RSS. ``ingest-s3``
    lands the same file into tables on the S3 server (``s3``), through the standard AWS
    variables only."""
    import json
    import os
    import subprocess
    import sys

    out = work / f"{case}-{uuid.uuid4().hex[:6]}"
    env = dict(os.environ)
    home = work / "home"
    if case == "ingest-s3":
        assert s3 is not None
        env.update(s3.env(), LG_BENCH_DATA_ROOT=f"{s3.bucket}/data")
        home = work / "home-s3"
    done = subprocess.run([sys.executable, "-c", CHILD, case.removesuffix("-s3"), str(path),
                           str(out), str(home), str(Path(__file__).parent)],
                          capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{case} child failed: {done.stderr.strip()[-1500:]}")
    if out.is_dir():
        shutil.rmtree(out, ignore_errors=True)
    else:
        out.unlink(missing_ok=True)  # the floor's sink writes one Parquet file
    got = json.loads(done.stdout.strip().splitlines()[-1])
    return harness.Sample(got["wall"], got["cpu"]), got


def bare_pass(frame: pl.DataFrame) -> tuple[pl.Series, dict[str, int]]:
    """The same 12 checks as one hand-written Polars select: row mask and counts."""
    exprs = {
        "null:id": pl.col("id").is_null(), "duplicate:id": pl.col("id").is_duplicated(),
        "range:age": (pl.col("age") < 18) | (pl.col("age") > 100),
        "range:income": pl.col("income") < 0,
        "range:score": (pl.col("score") < 0) | (pl.col("score") > 1),
        "range:visits": pl.col("visits") < 0,
        "allowed:plan": ~pl.col("plan").is_in(["basic", "standard", "premium"]),
        "allowed:country": ~pl.col("country").is_in(["DE", "FR", "GB", "NL", "US"]),
        "regex:email": ~pl.col("email").str.contains(r"^[^@]+@[^@]+\.[a-z]+$"),
        "length:name": pl.col("name").str.len_chars() > 12,
        "null:signup": pl.col("signup").is_null(), "null:active": pl.col("active").is_null(),
    }
    flags = frame.select([e.fill_null(False).alias(k) for k, e in exprs.items()])
    mask = flags.select(pl.any_horizontal(pl.all())).to_series()
    counts = dict(zip(flags.columns, flags.sum().row(0), strict=True))
    return mask, counts


def pandera_schemas():
    import pandera.pandas as pa
    import pandera.polars as pap

    def columns(mod):
        return {
            "id": mod.Column(nullable=False, unique=True),
            "age": mod.Column(checks=mod.Check.in_range(18, 100), nullable=True),
            "income": mod.Column(checks=mod.Check.ge(0), nullable=True),
            "score": mod.Column(checks=mod.Check.in_range(0, 1), nullable=True),
            "visits": mod.Column(checks=mod.Check.ge(0), nullable=True),
            "plan": mod.Column(checks=mod.Check.isin(["basic", "standard", "premium"]),
                               nullable=True),
            "country": mod.Column(checks=mod.Check.isin(["DE", "FR", "GB", "NL", "US"]),
                                  nullable=True),
            "email": mod.Column(checks=mod.Check.str_matches(r"^[^@]+@[^@]+\.[a-z]+$"),
                                nullable=True),
            "name": mod.Column(checks=mod.Check.str_length(max_value=12), nullable=True),
            "signup": mod.Column(nullable=False),
            "active": mod.Column(nullable=False),
        }

    return pa.DataFrameSchema(columns(pa)), pap.DataFrameSchema(columns(pap))


def run_pandera(schema, frame):
    """Lazy validation collects every failure case (pandera's per-row report)."""
    from pandera.errors import SchemaErrors

    try:
        schema.validate(frame, lazy=True)
        return 0
    except SchemaErrors as exc:
        return len(exc.failure_cases)


_TEMPLATE = {"age": 30, "income": 1.5, "score": 0.5, "ratio": 0.1, "visits": 2,
             "plan": "basic", "country": "DE", "email": "a@b.io", "name": "ann",
             "signup": "2024-01-01", "active": True}
_REDIS = "redis://127.0.0.1:6379/0"


def _produce(key: str, start: int, rows: int, rate: float | None) -> None:
    """A producer process (an external service in real life), optionally rate-limited."""
    import redis

    from lockgate.data.stream import publish

    client = redis.Redis.from_url(_REDIS)
    chunk = 1_000
    began = time.perf_counter()
    for first in range(start, start + rows, chunk):
        publish(client, key, [{"id": i, **_TEMPLATE}
                              for i in range(first, min(start + rows, first + chunk))])
        if rate:
            ahead = (first - start + chunk) / rate - (time.perf_counter() - began)
            if ahead > 0:
                time.sleep(ahead)


def bench_stream(rows: int, settings: Settings) -> tuple[float, float, float]:
    """Drain rate of a backlog (rows/s), and the worst end-to-end lag while a producer
    sends at the target rate. Producers run in their own process."""
    import multiprocessing

    import redis

    from lockgate.data.stream import StreamConfig, consume

    contract = CONTRACT.with_changes(table="stream_bench")
    key = f"lgbench:{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(_REDIS)
    _produce(key, 0, rows, None)  # the backlog
    config = StreamConfig(_REDIS, key, "stream_bench", max_rows=20_000, max_seconds=0.5)
    idle = 0.5
    begin = time.perf_counter()
    drained = consume(config, contract, settings=settings, idle_seconds=idle)
    rate = drained.rows / (time.perf_counter() - begin - idle)
    live_rows = min(rows, TARGETS["stream_rows_per_s"] * 5)
    producer = multiprocessing.get_context("spawn").Process(
        target=_produce, args=(key, rows, live_rows, TARGETS["stream_rows_per_s"]))
    producer.start()
    while client.xlen(key) <= rows and producer.is_alive():
        time.sleep(0.01)  # wait for the producer process to start sending
    live = consume(config, contract, settings=settings, idle_seconds=1.5)
    producer.join()
    client.delete(key)
    assert drained.rows == rows and live.rows == live_rows, (drained.rows, live.rows)
    return rate, live.max_lag_seconds, live_rows / TARGETS["stream_rows_per_s"]


@dataclass
class S3:
    """A ``moto_server`` on a free port of 127.0.0.1 (as the test suite starts it) and
    one bucket: the object store the ``ingest-s3`` case lands its tables in."""

    endpoint: str
    process: subprocess.Popen[bytes]
    bucket: str = ""

    @classmethod
    def start(cls, log: Path) -> S3 | None:
        """The server, or None (with the reason printed) when moto is not installed."""
        exe = Path(sys.executable).with_name("moto_server")
        if not exe.exists():
            print(f"no {exe}: the S3 case is skipped (pip install -e '.[dev]')", flush=True)
            return None
        with log.open("wb") as out:
            process = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", "0"],
                                       stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            found = re.search(rb"Running on http://127\.0\.0\.1:(\d+)", log.read_bytes())
            if found:
                server = cls(f"http://127.0.0.1:{int(found.group(1))}", process)
                server.bucket = server._make_bucket()
                return server
            time.sleep(0.2)
        process.kill()
        raise RuntimeError(f"moto_server did not start: {log.read_text()[-2000:]}")

    def env(self) -> dict[str, str]:
        """The standard AWS variables a client of this server needs (test credentials)."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing-secret", "AWS_REGION": "us-east-1",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}

    def _make_bucket(self) -> str:
        import boto3

        env = self.env()
        name = f"lgbench-{uuid.uuid4().hex[:12]}"
        boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                     aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                     aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"]).create_bucket(Bucket=name)
        return f"s3://{name}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[5_000_000],
                        help="Rows of the CSV; several sizes give the peak-RSS-vs-size table.")
    parser.add_argument("--ingestion-only", action="store_true",
                        help="Only part 1 (CSV -> Delta), e.g. for the large sizes.")
    parser.add_argument("--validation-only", action="store_true",
                        help="Only part 2 (validation vs the bare pass and pandera), at "
                             "each --rows size.")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="Keep the generated CSVs here and reuse them in later runs "
                             "(keyed by rows and seed); default: a temporary folder.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-bare", action="store_true",
                        help="Skip bare read_csv + write_delta (it holds the whole file: "
                             "about 1.3x the CSV in RAM).")
    parser.add_argument("--skip-s3", action="store_true",
                        help="Skip lockgate ingest into tables on the moto S3 server.")
    parser.add_argument("--stream-rows", type=int, default=200_000)
    parser.add_argument("--skip-pandas", action="store_true",
                        help="Skip pandera-pandas (slow at millions of rows).")
    parser.add_argument("--repeats", type=int, default=harness.REPEATS)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lgbench-"))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    report = harness.Report("data")
    settings = Settings(home=work / "home")
    Store.open(settings)  # one-time store creation and migration, not per batch
    data_dir = args.data_dir or work / "csv"
    peaks: dict[int, dict[str, float]] = {}
    if args.validation_only:
        for n in args.rows:
            _validation(report, cached_csv(data_dir, n, args.seed), n, args)
        report.emit()
        return
    cases = ["floor", *([] if args.skip_bare else ["bare"]), "ingest"]
    s3 = None if args.skip_s3 else S3.start(work / "moto.log")
    if s3 is not None:
        cases.append("ingest-s3")
    else:
        report.add("lockgate ingest into tables on S3", "skipped",
                   note="--skip-s3" if args.skip_s3 else "moto_server not installed")
    report.add("lockgate ingest from a CSV on S3", "not supported",
               note="file sources are local paths; the S3 case lands the local CSV into "
                    "tables on the S3 server")
    try:
        for n in args.rows:
            path = cached_csv(data_dir, n, args.seed)
            size = path.stat().st_size
            peaks[n] = _ingestion(report, path, work, n, size, args.repeats, cases, s3)
            for row in report.rows[-2 * len(cases) - 2:]:  # as each size finishes
                print(f"  {row.case}: {row.figure} | {row.lockgate} | {row.baseline} | "
                      f"{row.ratio}", flush=True)
    finally:
        if s3 is not None:
            s3.stop()
    if len(peaks) > 1:
        _flatness(report, peaks, cases)
    if args.ingestion_only:
        report.emit()
        return
    n = args.rows[-1]
    _validation(report, cached_csv(data_dir, n, args.seed), n, args)
    rate, lag, seconds = bench_stream(args.stream_rows, settings)
    report.compare(f"Redis Streams: drain a {args.stream_rows:,}-row backlog",
                   lockgate=harness.values([rate]), unit="rows/s",
                   goal=harness.Goal.at_least(TARGETS["stream_rows_per_s"],
                                              f"≥ {TARGETS['stream_rows_per_s']:,} rows/s",
                                              on="value"), note="one sample")
    report.compare(f"Redis Streams: producer at 20,000 rows/s for {seconds:.0f} s: max lag",
                   lockgate=harness.values([lag]), unit="s",
                   goal=harness.Goal.at_most(TARGETS["stream_lag_s"],
                                             f"≤ {TARGETS['stream_lag_s']:g} s", on="value"),
                   note="one sample")
    report.emit()


LABELS = {"floor": "floor: scan_csv.sink_parquet (streaming)",
          "bare": "bare read_csv + write_delta", "ingest": "lockgate ingest, local tables",
          "ingest-s3": "lockgate ingest, tables on S3 (moto)"}


def _ingestion(report: harness.Report, path: Path, work: Path, n: int, size: int,
               repeats: int, cases: list[str], s3: S3 | None) -> dict[str, float]:
    """The cases interleaved; returns the median peak RSS (bytes) per case."""
    samples: dict[str, list[tuple[harness.Sample, dict]]] = {c: [] for c in cases}
    for _ in range(repeats + 1):  # the first round is the cold one
        for case in cases:
            samples[case].append(child(case, path, work, s3))
    peaks = {}
    mb = f"CSV {size / 1e6:.0f} MB"
    for case, got in samples.items():
        rss = harness.Spread.of([g["rss"] / 1e9 for _, g in got[1:]])
        peaks[case] = rss.median * 1e9
        report.add(f"{n:,} rows, {mb} -> {LABELS[case]}: peak RSS (warm)",
                   f"{rss.show(1, 'GB')} ({rss.median * 1e9 / size:.2f}x file)",
                   note=f"cold: {got[0][1]['rss'] / 1e9:.2f} GB")

    def side(case: str, cold: bool) -> list[harness.Sample]:
        got = samples[case][:1] if cold else samples[case][1:]
        return harness.with_units([s for s, _ in got], n)

    for cold in (True, False):
        when = "cold, first" if cold else "warm"
        if "bare" in samples:
            report.compare(f"{n:,} rows, {mb}: lockgate ingest vs bare read_csv + "
                           f"write_delta ({when})", lockgate=side("ingest", cold),
                           baseline=side("bare", cold), unit="rows",
                           goal=None if cold else harness.Goal.at_least(
                               TARGETS["ingest_vs_bare"], "≥ 0.8 of bare read_csv + "
                               "write_delta throughput"))
        report.compare(f"{n:,} rows, {mb}: lockgate ingest vs the streaming floor "
                       f"scan_csv.sink_parquet ({when})", lockgate=side("ingest", cold),
                       baseline=side("floor", cold), unit="rows",
                       note="the floor parses types and validates nothing")
        if "ingest-s3" in samples:
            report.compare(f"{n:,} rows, {mb}: lockgate ingest into tables on S3 (moto) "
                           f"vs local ({when})", lockgate=side("ingest-s3", cold),
                           baseline=side("ingest", cold), unit="rows")
    return peaks


def _flatness(report: harness.Report, peaks: dict[int, dict[str, float]],
              cases: list[str]) -> None:
    """Peak RSS of each case from the smallest size to the largest (#21: flat within a
    small factor from 10M to 100M rows)."""
    small, large = min(peaks), max(peaks)
    for case in cases:
        shown = " -> ".join(f"{peaks[n][case] / 1e9:.2f} GB" for n in sorted(peaks))
        ours = case.startswith("ingest")
        report.compare(f"peak RSS {small:,} -> {large:,} rows: {LABELS[case]}",
                       lockgate=harness.values([peaks[large][case] / 1e9]),
                       baseline=harness.values([peaks[small][case] / 1e9]), unit="GB",
                       goal=harness.Goal.at_most(TARGETS["rss_growth"], "peak RSS flat: "
                                                 f"≤ ×{TARGETS['rss_growth']:g} from the "
                                                 "smaller size", on="value") if ours else None,
                       note=f"{shown} for ×{large / small:.0f} rows")


def _validation(report: harness.Report, path: Path, n: int, args: argparse.Namespace) -> None:
    raw = pl.read_csv(path, infer_schema=False)
    normalized = normalize(raw, CONTRACT, map_columns(raw.columns, CONTRACT))
    typed = normalized.select(CONTRACT.column_names)
    cases = {"lockgate evaluate (mask, per-row reasons, counts)":
             lambda: evaluate(normalized, compile_checks(CONTRACT)),
             "bare Polars single pass": lambda: bare_pass(typed)}
    try:
        schema_pd, schema_pl = pandera_schemas()
        cases["pandera-polars"] = lambda: run_pandera(schema_pl, typed)
        if not args.skip_pandas:
            frame_pd = typed.to_pandas()
            cases["pandera-pandas"] = lambda: run_pandera(schema_pd, frame_pd)
    except ImportError:
        report.skip("validation vs pandera-polars", goal="ahead of pandera-polars",
                    fix="pip install -e '.[bench]' (pandera[polars])")
    verdict = evaluate(normalized, compile_checks(CONTRACT))
    mask, _ = bare_pass(typed)
    assert int(mask.sum()) == verdict.reasons.height
    series, _ = harness.interleave(cases, repeats=args.repeats)
    ours = harness.with_units(
        series["lockgate evaluate (mask, per-row reasons, counts)"], n)
    goals = {"bare Polars single pass": harness.Goal.at_least(
                 TARGETS["vs_bare"], f"≥ {TARGETS['vs_bare']} of the bare single pass"),
             "pandera-polars": harness.Goal.above(TARGETS["vs_pandera_polars"],
                                                  "ahead of pandera-polars"),
             "pandera-pandas": harness.Goal.at_least(
                 TARGETS["vs_pandera_pandas"], f"≥ {TARGETS['vs_pandera_pandas']:g}× "
                 "pandera-pandas")}
    for peer, goal in goals.items():
        if peer in series:
            report.compare(f"validate {n:,} rows: lockgate evaluate (mask, per-row reasons, "
                           f"counts) vs {peer}", lockgate=ours,
                           baseline=harness.with_units(series[peer], n), unit="rows",
                           goal=goal)


if __name__ == "__main__":
    main()
