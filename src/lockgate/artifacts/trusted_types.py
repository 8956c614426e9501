"""Which types a skops model file may hold: lockgate's own allowlist, types other lockgate
modules declare in code, and what the operator adds in configuration. Never the file.

Why: skops rebuilds only the types it is told to trust. Deriving that list from the file
itself (even filtered by module prefix) lets a package name ``builtins.exec`` inside a
``functools.partial`` and run code wherever it is loaded (MLflow's GHSA-w582 lesson).
Here the list is fixed by code and configuration; a file holding anything else is
refused, naming the type and the setting that would allow it.

Three sources, nothing else:

- :data:`LOCKGATE_TYPES`: the scikit-learn internals, numpy/builtins containers and
  lockgate transformers that lockgate's own training produces, beyond what skops itself
  trusts by default (scikit-learn estimators, numpy arrays, dtypes and ufuncs).
- :func:`declare_trusted_types`: another lockgate module (a model flavor) names the
  types its models need, in code, at import time.
- ``Settings.trusted_types`` (``LOCKGATE_TRUSTED_TYPES``, comma-separated, or
  ``trusted_types:`` in ``lockgate.yaml``): exact names or ``module.*`` for the
  functions of the operator's own module (e.g. a ``FunctionTransformer`` helper).

Names in :data:`NEVER_TRUSTED` (``builtins``, ``functools``, ``os``, ``subprocess``...)
cannot be opened by any of them.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lockgate.errors import ArtifactError, ConfigError

if TYPE_CHECKING:
    from lockgate.config import Settings

SETTING = "trusted_types"
ENV = "LOCKGATE_TRUSTED_TYPES"

#: Types lockgate's own pipelines hold that skops does not trust by default.
LOCKGATE_TYPES: frozenset[str] = frozenset({
    # lockgate's feature transformers (modeling/features.py)
    "lockgate.modeling.features.CalendarFeatures",
    "lockgate.modeling.features.as_category_strings",
    "lockgate.modeling.features.as_float",
    # fitted scikit-learn internals (state holders, no callables)
    "sklearn.tree._tree.Tree",
    # HistGradientBoosting trees: skops leaves it out because scikit-learn walks the node
    # array unchecked; load_skops checks every link (check_tree_predictors)
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.metrics._dist_metrics.ManhattanDistance64",
    "sklearn.metrics._dist_metrics.ChebyshevDistance64",
    "sklearn.metrics._dist_metrics.MinkowskiDistance64",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.utils._bunch.Bunch",
    # plain data containers and dtypes
    "numpy.dtype",
    "builtins.slice",
    "builtins.frozenset",
    "builtins.complex",
    "builtins.bytes",
    "collections.OrderedDict",
})

#: Modules whose names can never be trusted: they hold ways to run code, import modules,
#: reach files or the network. ``numpy`` I/O functions are listed by name.
NEVER_TRUSTED_MODULES: frozenset[str] = frozenset({
    "builtins", "functools", "operator", "_operator", "os", "posix", "nt", "subprocess",
    "importlib", "sys", "shutil", "pickle", "_pickle", "marshal", "runpy", "code",
    "codeop", "ctypes", "socket", "io", "_io", "pathlib", "types", "inspect", "pty",
    "webbrowser", "urllib", "http", "ftplib", "smtplib", "multiprocessing", "threading",
    "asyncio", "signal", "tempfile", "glob", "joblib", "cloudpickle", "dill",
})
NEVER_TRUSTED: frozenset[str] = frozenset({
    "numpy.load", "numpy.save", "numpy.savez", "numpy.loadtxt", "numpy.savetxt",
    "numpy.fromfile", "numpy.genfromtxt", "numpy.memmap", "numpy.lib.npyio.load",
    "numpy.frompyfunc", "numpy.vectorize", "numpy.ctypeslib.load_library",
    "skops.io.load", "skops.io.loads",
})
#: The builtins skops needs as containers; the only ``builtins`` names ever trusted.
SAFE_BUILTINS: frozenset[str] = frozenset(
    name for name in LOCKGATE_TYPES if name.startswith("builtins."))

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*(\.\*)?$")
_DECLARED: dict[str, frozenset[str]] = {}


class UntrustedTypeError(ArtifactError):
    """A model file holds types outside the allowlist; it was not loaded."""

    def __init__(self, types: list[str], where: str = "the model") -> None:
        self.types = types
        listed = ", ".join(f"`{t}`" for t in types)
        super().__init__(
            f"Refusing to load {where}: it holds {len(types)} type(s) outside lockgate's "
            f"allowlist: {listed}. Nothing was executed. If you wrote this code and trust it, "
            f"add the exact name (or `your_module.*`) to the `{SETTING}` setting "
            f"(`{SETTING}: [{types[0]}]` in lockgate.yaml, or {ENV}={types[0]}) where "
            "the model is registered and served."
        )


def never_trusted(name: str) -> bool:
    """Whether ``name`` (a type, function or ``module.*`` pattern) can never be trusted."""
    if name in SAFE_BUILTINS:
        return False
    module = name[:-2] if name.endswith(".*") else name.rsplit(".", 1)[0]
    parts = module.split(".")
    prefixes = {".".join(parts[: i + 1]) for i in range(len(parts))}
    return bool(prefixes & NEVER_TRUSTED_MODULES) or name in NEVER_TRUSTED or any(
        bad.startswith(module + ".") for bad in NEVER_TRUSTED if name.endswith(".*"))


def check_names(names: Iterable[str], *, source: str) -> tuple[str, ...]:
    """Validate allowlist entries; returns them as a tuple.

    Raises:
        ConfigError: an entry is not a dotted name (or ``module.*``), or names a module
            that can never be trusted.
    """
    entries = tuple(str(n).strip() for n in names if str(n).strip())
    problems = []
    for entry in entries:
        if not _NAME.match(entry) or "." not in entry:
            problems.append(f"`{entry}` is not a dotted name such as `my_module.my_function` "
                            "or `my_module.*`")
        elif never_trusted(entry):
            problems.append(f"`{entry}` can never be trusted: its module can run code, "
                            "import modules or reach files and the network")
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems) + ".")
    return entries


def declare_trusted_types(owner: str, names: Iterable[str]) -> None:
    """Let a lockgate module trust the types its own models need (in code, at import).

    Example:
        declare_trusted_types("lockgate.flavors.lightgbm",
                              ["lightgbm.sklearn.LGBMClassifier", "lightgbm.basic.Booster"])

    Args:
        owner: the declaring module (shown when listing where trust comes from).
        names: exact dotted type names; ``module.*`` is for operators only.

    Raises:
        ConfigError: a name is malformed, a pattern, or never trustable.
    """
    entries = check_names(names, source=f"declare_trusted_types({owner!r})")
    patterns = [e for e in entries if e.endswith(".*")]
    if patterns:
        raise ConfigError(f"declare_trusted_types({owner!r}): name exact types, not "
                          f"{patterns[0]}; patterns are for the operator's configuration.")
    _DECLARED[owner] = frozenset(entries)


@dataclass(frozen=True, slots=True)
class TypeAllowlist:
    """The resolved allowlist: exact names plus the operator's ``module.*`` patterns."""

    exact: frozenset[str]
    modules: tuple[str, ...] = ()

    def allows(self, name: str) -> bool:
        """Whether a type or function name is trusted."""
        if never_trusted(name):
            return False
        return name in self.exact or any(name.startswith(m + ".") for m in self.modules)

    def check(self, data: bytes, where: str = "the model") -> list[str]:
        """The skops ``trusted`` list for ``data``: its non-default types, all allowlisted.

        Raises:
            UntrustedTypeError: a type is not allowlisted (nothing was constructed).
            ArtifactError: ``data`` is not a skops file.
        """
        import skops.io as sio

        try:
            types = sio.get_untrusted_types(data=data)
        except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
            raise ArtifactError(not_skops(where, exc)) from exc
        refused = [name for name in types if not self.allows(name)]
        if refused:
            raise UntrustedTypeError(refused, where)
        return list(types)


def allowlist(settings: Settings | None = None) -> TypeAllowlist:
    """lockgate's types, the declared ones, and the operator's from ``settings``."""
    exact = set(LOCKGATE_TYPES).union(*_DECLARED.values())
    extra = check_names(getattr(settings, SETTING, ()) or (), source=f"setting `{SETTING}`")
    exact |= {e for e in extra if not e.endswith(".*")}
    modules = tuple(e[:-2] for e in extra if e.endswith(".*"))
    return TypeAllowlist(frozenset(exact), modules)


def load_skops(data: bytes, trusted: TypeAllowlist | None = None,
               where: str = "the model") -> Any:
    """Load a skops file, trusting only the allowlist (default: lockgate's and declared).

    Raises:
        UntrustedTypeError: the file holds a type outside the allowlist.
        ArtifactError: not a skops file, or skops cannot rebuild it.
    """
    import skops.io as sio

    types = (trusted or allowlist()).check(data, where)
    try:
        model = sio.loads(data, trusted=types)
    except Exception as exc:
        raise ArtifactError(f"{where} cannot be loaded by skops: {type(exc).__name__}: "
                            f"{exc}") from exc
    check_tree_predictors(model, where)
    return model


def check_tree_predictors(model: Any, where: str = "the model") -> None:
    """Refuse HistGradientBoosting trees whose node links point outside their arrays.

    Why: scikit-learn walks ``TreePredictor.nodes`` without bounds checks, so a crafted
    file could read out of bounds at predict time (the reason skops leaves the type out
    of its defaults). lockgate trusts the type and checks the links instead.

    Raises:
        ArtifactError: a child index or categorical bitset index out of range.
    """
    for estimator in _estimators(model):
        n_features = getattr(estimator, "n_features_in_", None)
        for index, predictor in enumerate(_predictors(estimator)):
            problem = _tree_problem(predictor, n_features)
            if problem:
                raise ArtifactError(f"Refusing {where}: tree {index} of "
                                    f"{type(estimator).__name__} {problem}; the file was "
                                    "crafted or corrupted.")


def _estimators(model: Any) -> list[Any]:
    found, todo, seen = [], [model], set()
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        found.append(item)
        if hasattr(item, "get_params"):
            todo.extend(v for v in item.get_params(deep=False).values()
                        if hasattr(v, "get_params") or isinstance(v, list | tuple))
            todo.extend(getattr(item, name) for name in ("steps_", "estimators_",
                                                         "transformers_", "named_steps")
                        if isinstance(getattr(item, name, None), list | tuple))
        elif isinstance(item, list | tuple):
            todo.extend(v[1] if isinstance(v, tuple) and len(v) > 1 else v for v in item)
    return [e for e in found if hasattr(e, "get_params")]


def _predictors(estimator: Any) -> list[Any]:
    groups = getattr(estimator, "_predictors", None)
    if not isinstance(groups, list):
        return []
    return [p for group in groups for p in (group if isinstance(group, list) else [group])]


def _tree_problem(predictor: Any, n_features: int | None) -> str | None:
    import numpy as np

    nodes = getattr(predictor, "nodes", None)
    if nodes is None or not hasattr(nodes, "dtype") or nodes.dtype.names is None:
        return "has no node array"
    count = len(nodes)
    inner = nodes[nodes["is_leaf"] == 0]
    for field in ("left", "right"):
        links = inner[field].astype(np.int64)
        if links.size and (links.min() < 0 or links.max() >= count):
            return f"links a node to {int(links.max())} outside its {count} nodes"
    if n_features is not None and inner.size and int(inner["feature_idx"].max()) >= n_features:
        return f"splits on feature {int(inner['feature_idx'].max())} of {n_features}"
    bitsets = getattr(predictor, "raw_left_cat_bitsets", None)
    categorical = inner[inner["is_categorical"] != 0]
    if categorical.size and (bitsets is None or
                             int(categorical["bitset_idx"].max()) >= len(bitsets)):
        return "points at a categorical bitset it does not have"
    return None


def not_skops(where: str, exc: BaseException) -> str:
    """The refusal for bytes that are not a skops file (a pickle renamed, a truncation)."""
    return (f"Refusing {where}: not a skops file: refusing an unsafe or unknown format "
            f"({type(exc).__name__}: {exc}). lockgate loads models only from skops or "
            "code-free native formats, never pickle or joblib.")
