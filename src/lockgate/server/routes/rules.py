"""The access rules the routes share, and the API's prefix."""

from __future__ import annotations

from lockgate.server.access import Access

API = "/api/v1"
READ = Access("reader")
SEEN = Access("reader", "any")  # a reader of anything; the answer holds what it may see
RUN_READ = Access("reader", "experiment", "run:path")
RUN_WRITE = Access("writer", "experiment", "run:path")
ANY_WRITE = Access("writer", "any")  # content-addressed uploads, dataset versions
WRITE = Access("writer")
ADMIN = Access("admin")
MODEL_READ = Access("reader", "model", "path:name")
MODEL_WRITE = Access("writer", "model", "path:name")
