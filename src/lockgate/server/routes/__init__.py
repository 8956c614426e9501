"""The routes of ``lockgate server``, one ``APIRouter`` per resource;
:mod:`lockgate.server.app` composes them behind the guard and the auth middleware.

Every route declares its :class:`~lockgate.server.access.Access` rule as
``openapi_extra``; the handlers call the embedded store exactly as the Python client
does locally, inside :func:`~lockgate.store.audit.acting_as` the authenticated user, so
every audit record names who did it. A state-changing request may carry
``Idempotency-Key`` (:mod:`lockgate.server.idempotency`).
"""
