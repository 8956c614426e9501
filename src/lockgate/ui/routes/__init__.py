"""The dashboard's routes, one ``APIRouter`` per page group; :mod:`lockgate.ui.app`
composes them behind the guard."""
