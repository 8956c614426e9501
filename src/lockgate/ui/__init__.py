"""The dashboard: a FastAPI app over the metadata store (``lockgate ui``)."""

from lockgate.store.run_filter import FilterError, parse_filter
from lockgate.store.run_query import RunPage, RunQuery, query_runs
from lockgate.ui.access import AccessError, AccessPolicy
from lockgate.ui.app import create_dashboard_app
from lockgate.ui.server import serve_dashboard

__all__ = [
    "AccessError",
    "AccessPolicy",
    "FilterError",
    "RunPage",
    "RunQuery",
    "create_dashboard_app",
    "parse_filter",
    "query_runs",
    "serve_dashboard",
]
