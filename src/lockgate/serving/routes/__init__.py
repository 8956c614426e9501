"""The prediction API's routes, one ``APIRouter`` per concern; :mod:`lockgate.serving.app`
composes them behind the guard."""
