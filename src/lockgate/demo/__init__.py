"""The quickstart: one end-to-end demonstration of every capability, on embedded defaults.

Each stage contributes one section module (``demo/<stage>.py``) with a
``run(ctx: DemoContext) -> None`` function; :mod:`lockgate.demo.quickstart` calls them
in the order of the flow. This package does not import the sections itself, so a
pipeline worker importing one section does not import them all.
"""

from lockgate.demo.context import DemoContext

__all__ = ["DemoContext"]
