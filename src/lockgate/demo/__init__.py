"""The quickstart: one end-to-end demonstration of every capability, on embedded defaults.

Each stage contributes one section module (``demo/<stage>.py``) with a
``run(ctx: DemoContext) -> None`` function; :mod:`lockgate.demo.quickstart` calls them
in the order of the flow.
"""

from lockgate.demo.context import DemoContext
from lockgate.demo.quickstart import run_quickstart

__all__ = ["DemoContext", "run_quickstart"]
