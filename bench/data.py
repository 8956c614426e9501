"""Benchmark of the data layer (issue 4).

1. CSV -> validated Delta (lockgate.data.ingest) against the floor of a bare Polars
   read_csv + write_delta of the same file (target >= 50% of the floor).
2. Validation alone (row mask, per-row reasons, per-check counts) on the same 12 checks
   against pandera's pandas backend (target >= 10x), pandera's Polars backend
   (>= 1.5x) and a bare single-pass Polars expression (>= 65% of its throughput).
3. Redis Streams: rows/s landed and end-to-end lag (targets >= 20,000 rows/s, <= 2 s).

Run: .venv/bin/python bench/data.py [--rows 5000000] [--stream-rows 200000]
Peers: .venv/bin/pip install -e ".[bench]" (pandera[polars]).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import polars as pl

from lockgate.config import Settings
from lockgate.data import ColumnSpec, Contract, ingest
from lockgate.data.normalize import map_columns, normalize
from lockgate.data.validation import compile_checks, evaluate, validate
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
TARGETS = {"ingest_vs_floor": 0.5, "vs_pandera_pandas": 10.0, "vs_pandera_polars": 1.5,
           "vs_bare": 0.65, "stream_rows_per_s": 20_000, "stream_lag_s": 2.0}


def make_csv(path: Path, rows: int, seed: int = 0) -> None:
    """A 12-column CSV with about 1% bad values spread over the checks."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 90, rows)
    age[rng.random(rows) < 0.002] = 150
    income = rng.gamma(2, 20_000, rows).round(2)
    income[rng.random(rows) < 0.002] = -1
    frame = pl.DataFrame({
        "id": np.arange(rows), "age": age, "income": income,
        "score": rng.random(rows).round(4), "ratio": rng.normal(0, 1, rows).round(4),
        "visits": rng.poisson(3, rows),
        "plan": rng.choice(["basic", "standard", "premium", "gold"], rows,
                           p=[0.5, 0.3, 0.198, 0.002]),
        "country": rng.choice(["DE", "FR", "GB", "NL", "US"], rows),
        "email": [f"u{i}@example.com" for i in range(rows)],
        "name": rng.choice(["ann", "bob", "carla", "dimitri", "alexandrapetrova"], rows,
                           p=[0.3, 0.3, 0.2, 0.198, 0.002]),
        "signup": pl.date_range(pl.date(2020, 1, 1), pl.date(2024, 12, 31), eager=True)
        .sample(rows, with_replacement=True, seed=seed),
        "active": rng.random(rows) < 0.7,
    })
    frame.write_csv(path)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--stream-rows", type=int, default=200_000)
    parser.add_argument("--skip-pandas", action="store_true",
                        help="Skip pandera-pandas (slow at millions of rows).")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lgbench-"))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    settings = Settings(home=work / "home")
    path = work / "bench.csv"
    print(f"generating {args.rows:,} rows x 12 columns ...", flush=True)
    make_csv(path, args.rows)
    print(f"CSV: {path.stat().st_size / 1e6:.0f} MB")
    n = args.rows
    Store.open(settings)  # one-time store creation and migration, not per batch
    floor_s, _ = timed(lambda: pl.read_csv(path).write_delta(str(work / "floor")))
    ingest_s, result = timed(ingest, path, "bench", CONTRACT, settings=settings)
    assert result.ingested == n == result.accepted + result.quarantined
    print(f"\n[1] CSV -> Delta   floor (read_csv + write_delta): {n / floor_s:>12,.0f} rows/s")
    print(f"    lockgate ingest (normalise, validate, quarantine, commit, register): "
          f"{n / ingest_s:,.0f} rows/s; {result.quarantined:,} quarantined")
    ratio = floor_s / ingest_s
    print(f"    ratio {ratio:.2f} of floor (target >= {TARGETS['ingest_vs_floor']})"
          f" {'OK' if ratio >= TARGETS['ingest_vs_floor'] else 'MISSED'}")

    raw = pl.read_csv(path, infer_schema=False)
    normalized = normalize(raw, CONTRACT, map_columns(raw.columns, CONTRACT))
    typed = normalized.select(CONTRACT.column_names)
    ours_s, verdict = timed(lambda: evaluate(normalized, compile_checks(CONTRACT)))
    full_s, outcome = timed(validate, normalized, CONTRACT)
    bare_s, (mask, _counts) = timed(bare_pass, typed)
    assert int(mask.sum()) == verdict.reasons.height == outcome.quarantined.height
    print(f"\n[2] validation of {n:,} rows, 12 checks (+ 12 per-column type checks)")
    print(f"    lockgate evaluate (mask, per-row reasons, counts): {n / ours_s:>12,.0f} rows/s "
          f"({verdict.reasons.height:,} rows with reasons)")
    print(f"    lockgate validate (+ accepted frame, raw values as JSON): "
          f"{n / full_s:,.0f} rows/s")
    print(f"    bare Polars pass : {n / bare_s:>12,.0f} rows/s -> ratio {bare_s / ours_s:.2f} "
          f"(target >= {TARGETS['vs_bare']}) "
          f"{'OK' if bare_s / ours_s >= TARGETS['vs_bare'] else 'MISSED'}")
    try:
        schema_pd, schema_pl = pandera_schemas()
    except ImportError:
        print("    pandera not installed: pip install -e '.[bench]'")
        schema_pd = schema_pl = None
    if schema_pl is not None:
        pl_s, cases = timed(run_pandera, schema_pl, typed)
        print(f"    pandera-polars   : {n / pl_s:>12,.0f} rows/s ({cases:,} failure cases) -> "
              f"lockgate is {pl_s / ours_s:.1f}x (target >= {TARGETS['vs_pandera_polars']}) "
              f"{'OK' if pl_s / ours_s >= TARGETS['vs_pandera_polars'] else 'MISSED'}")
    if schema_pd is not None and not args.skip_pandas:
        frame_pd = typed.to_pandas()
        pd_s, cases = timed(run_pandera, schema_pd, frame_pd)
        print(f"    pandera-pandas   : {n / pd_s:>12,.0f} rows/s ({cases:,} failure cases) -> "
              f"lockgate is {pd_s / ours_s:.1f}x (target >= {TARGETS['vs_pandera_pandas']}) "
              f"{'OK' if pd_s / ours_s >= TARGETS['vs_pandera_pandas'] else 'MISSED'}")

    rate, lag, seconds = bench_stream(args.stream_rows, settings)
    print(f"\n[3] Redis Streams: draining a {args.stream_rows:,}-row backlog at {rate:,.0f} "
          f"rows/s (target >= {TARGETS['stream_rows_per_s']:,}) "
          f"{'OK' if rate >= TARGETS['stream_rows_per_s'] else 'MISSED'}")
    print(f"    producer at {TARGETS['stream_rows_per_s']:,} rows/s for {seconds:.0f} s: max "
          f"end-to-end lag (sent -> committed) {lag:.2f} s (target <= "
          f"{TARGETS['stream_lag_s']}) {'OK' if lag <= TARGETS['stream_lag_s'] else 'MISSED'}")


if __name__ == "__main__":
    main()
