"""The last-metric summary (``ui_last_metrics``): brought up to date before a runs page.

Why incremental: ``metrics`` only grows and its ids only increase, so folding in the
rows after a watermark is cheap however large the table is. The watermark is moved
back by a margin on every refresh because on PostgreSQL a row can commit after rows
with higher ids; re-folding is idempotent (an upsert keeps the row with the highest id).

Why bounded: the refresh runs inside a GET and, on SQLite, holds the write lock while
it folds. One refresh folds at most ``MAX_FOLD`` new metric ids, so neither the page nor
a trainer waiting to log metrics waits on a fold of the whole table; until the summary
has caught up the page uses the (slower, equally correct) correlated queries.

"Last" is the latest logged point, as ``Store.last_metrics`` and ``lockgate runs
list`` define it, so a filter agrees with the value the page shows.
"""

from __future__ import annotations

import sqlalchemy as sa

from lockgate.errors import StoreError
from lockgate.store import Store
from lockgate.store import schema as t
from lockgate.store.tables_ui import ui_state

WATERMARK = "last_metrics_id"
MARGIN = 10_000
MAX_FOLD = 100_000
_FOLD = sa.text("""
INSERT INTO ui_last_metrics (run_id, key, step, metric_id, value)
SELECT run_id, key, step, id, value FROM (
    SELECT run_id, key, step, id, value,
           row_number() OVER (PARTITION BY run_id, key ORDER BY id DESC) AS rn
    FROM metrics WHERE id > :low AND id <= :high
) ranked WHERE rn = 1
ON CONFLICT (run_id, key) DO UPDATE SET
    step = excluded.step, metric_id = excluded.metric_id, value = excluded.value
WHERE excluded.metric_id > ui_last_metrics.metric_id
""")


def refresh(store: Store, limit: int | None = MAX_FOLD) -> bool:
    """Fold up to ``limit`` metric ids written since the last refresh into the summary.

    Args:
        store: the metadata store.
        limit: most new metric ids folded in one write transaction; ``None`` folds all
            (a one-off build outside a request, e.g. in the benchmark).

    Returns:
        True when the summary is current and may be queried; False when it is still
        catching up or cannot be written (e.g. a read-only database), so callers fall
        back to the slower queries.
    """
    try:
        with store.read() as conn:
            newest = conn.execute(sa.select(sa.func.max(t.metrics.c.id))).scalar() or 0
            done = conn.execute(sa.select(ui_state.c.value).where(
                ui_state.c.name == WATERMARK)).scalar()
        if done is not None and done >= newest:
            return True
        high = newest if limit is None else min(newest, (done or 0) + limit)
        with store.write() as conn:
            low = max(0, done - MARGIN) if done else 0
            conn.execute(_FOLD, {"low": low, "high": high})
            if done is None:
                conn.execute(sa.insert(ui_state).values(name=WATERMARK, value=high))
            else:
                conn.execute(sa.update(ui_state).where(ui_state.c.name == WATERMARK)
                             .values(value=sa.func.max(ui_state.c.value, high)
                                     if store.dialect == "sqlite" else
                                     sa.func.greatest(ui_state.c.value, high)))
        return high >= newest
    except (sa.exc.SQLAlchemyError, StoreError):
        return False
