"""A pipeline ending in a gradient-boosted model, split into skops preprocessing + the
booster's native file, and joined back into ``Pipeline(preprocessing + BoosterModel)``."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lockgate.artifacts.flavors.flavor import (
    Flavor,
    FlavorError,
    SavedModel,
    module_of,
    require_file,
)

PREPROCESS_FILE = "preprocess.skops"
_LOADED = "lockgate.artifacts.flavors.booster_model"


def loaded_booster(value: Any, library: str) -> bool:
    """Whether ``value`` is a :class:`BoosterModel` of ``library`` (without importing it)."""
    return type(value).__module__ == _LOADED and getattr(value, "library", None) == library


def native_booster(value: Any) -> Any:
    """The library ``Booster`` inside a loaded :class:`BoosterModel`, else None."""
    return value.booster if type(value).__module__ == _LOADED else None


def canonical_zip(data: bytes) -> bytes:
    """A skops file rewritten so the same model gives the same bytes: fixed timestamps,
    and array members and object ids renumbered in schema order (skops names them by
    ``id()``, which differs between processes). Then a reproduced run's model hash can equal the
    original's."""
    import io
    import re
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(data))
    schema = source.read("schema.json").decode("utf-8")
    names: dict[str, str] = {}
    for found in re.findall(r'"(\d+\.npy)"', schema):
        names.setdefault(found, f"{len(names)}.npy")
    schema = re.sub(r'"(\d+\.npy)"', lambda m: f'"{names[m.group(1)]}"', schema)
    ids: dict[str, str] = {}  # object ids for shared references: same mapping everywhere
    schema = re.sub(r'"__id__": (\d+)',
                    lambda m: f'"__id__": {ids.setdefault(m.group(1), str(len(ids)))}', schema)
    members = {"schema.json": schema.encode("utf-8")}
    for info in source.infolist():
        if info.filename != "schema.json":
            members[names.get(info.filename, info.filename)] = source.read(info.filename)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for name in sorted(members):
            fixed = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type, fixed.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
            target.writestr(fixed, members[name])
    return buffer.getvalue()


def split_pipeline(model: Any, is_booster: Callable[[Any], bool]) -> tuple[Any, str | None, Any]:
    """``(preprocessing pipeline or None, final step name or None, booster estimator)``."""
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline) and is_booster(model.steps[-1][1]):
        name, final = model.steps[-1]
        rest = Pipeline(model.steps[:-1]) if len(model.steps) > 1 else None
        return rest, name, final
    return None, None, model


def is_pipeline_ending_in(model: Any, is_booster: Callable[[Any], bool]) -> bool:
    """Whether ``model`` is a booster or a scikit-learn Pipeline whose final step is one."""
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline):
        return bool(model.steps) and is_booster(model.steps[-1][1])
    return is_booster(model)


def save_booster_model(model: Any, *, flavor: str, is_booster: Callable[[Any], bool],
                       booster_file: str, dump: Callable[[Any], tuple[bytes, dict[str, Any]]],
                       ) -> SavedModel:
    """Save preprocessing with skops and the booster with ``dump`` (native bytes, meta)."""
    from lockgate.artifacts.materializers import materializer_named

    preprocess, step, final = split_pipeline(model, is_booster)
    data, meta = dump(final)
    files = {booster_file: data}
    if preprocess is not None:
        try:
            files[PREPROCESS_FILE] = canonical_zip(materializer_named("skops").dump(preprocess))
        except Exception as exc:
            raise FlavorError(f"The preprocessing before the {flavor} model cannot be saved "
                              f"with skops: {exc}") from exc
    classes = getattr(final, "classes_", None)
    meta = {**meta, "booster_file": booster_file, "step": step,
            "preprocess_file": PREPROCESS_FILE if preprocess is not None else None,
            "classes": None if classes is None else np.asarray(classes).tolist()}
    return SavedModel(flavor, files, meta)


def load_booster_model(files: Mapping[str, bytes], meta: Mapping[str, Any], *, flavor: str,
                       booster: Any, scorer: Callable[[Any, Any], Any],
                       trusted: Any = None) -> Any:
    """Rebuild ``Pipeline(preprocessing + BoosterModel)`` or a bare ``BoosterModel``."""
    from sklearn.pipeline import Pipeline

    from lockgate.artifacts.materializers import loads

    classes = meta.get("classes")
    if classes is not None and (not isinstance(classes, list) or not all(
            isinstance(c, str | int | float | bool) for c in classes)):
        raise FlavorError(f"The `{flavor}` metadata's classes must be a list of labels, "
                          f"got {classes!r}.")
    from lockgate.artifacts.flavors.booster_model import BoosterModel

    final = BoosterModel(booster, flavor, classes, scorer)
    if meta.get("preprocess_file") is None:
        return final
    preprocess = loads(require_file(files, meta["preprocess_file"], flavor), "skops",
                       trusted=trusted)
    step = meta.get("step") if isinstance(meta.get("step"), str) else "model"
    return Pipeline([*preprocess.steps, (step, final)])


def booster_file_bytes(files: Mapping[str, bytes], meta: Mapping[str, Any], flavor: str) -> bytes:
    """The native booster file the metadata names."""
    return require_file(files, meta.get("booster_file"), flavor)


#: ``parse(native bytes, metadata)`` -> ``(booster, scorer(booster, X))``.
Parse = Callable[[bytes, Mapping[str, Any]], tuple[Any, Callable[[Any, Any], Any]]]
#: ``dump(final estimator)`` -> ``(native bytes, metadata)``.
Dump = Callable[[Any], tuple[bytes, dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class BoosterFormat:
    """What differs between the gradient-boosting flavors; the rest is one code path.

    Attributes:
        library: the import name, also the flavor's name.
        booster_file: the name of the native file in the flavor's files.
        fitted_attribute: what a fitted scikit-learn model of the library has
            (``booster_`` / ``get_booster``); a bare ``Booster`` is matched by its class.
        magic: the native file begins with one of these (checked before parsing).
        not_native: completes "`<file>` is not ..." when the file does not.
        parse: the native bytes and metadata -> the booster and its scorer.
        dump: the final estimator -> the native bytes and their metadata.
    """

    library: str
    booster_file: str
    fitted_attribute: str
    magic: tuple[bytes, ...]
    not_native: str
    parse: Parse
    dump: Dump


def booster_flavor(fmt: BoosterFormat, trusted_types: tuple[str, ...] = ()) -> Flavor:
    """The flavor of one gradient-boosting library: a booster alone or ending a
    scikit-learn Pipeline, saved as skops preprocessing + the library's native file."""
    return Flavor(fmt.library, (fmt.library,), functools.partial(_handles, fmt),
                  functools.partial(_save, fmt), functools.partial(_load, fmt), trusted_types)


def is_booster_of(fmt: BoosterFormat, value: Any) -> bool:
    """A fitted scikit-learn model of the library, a ``Booster``, or a loaded one."""
    if loaded_booster(value, fmt.library):
        return True
    return module_of(value) == fmt.library and (
        hasattr(value, fmt.fitted_attribute) or type(value).__name__ == "Booster")


def _handles(fmt: BoosterFormat, model: Any) -> bool:
    return is_pipeline_ending_in(model, functools.partial(is_booster_of, fmt))


def _save(fmt: BoosterFormat, model: Any) -> SavedModel:
    return save_booster_model(model, flavor=fmt.library,
                              is_booster=functools.partial(is_booster_of, fmt),
                              booster_file=fmt.booster_file, dump=fmt.dump)


def _load(fmt: BoosterFormat, files: Mapping[str, bytes], meta: Mapping[str, Any],
          trusted: Any = None) -> Any:
    data = booster_file_bytes(files, meta, fmt.library)
    if not data.startswith(fmt.magic):
        raise FlavorError(f"`{meta.get('booster_file')}` is not {fmt.not_native}")
    booster, scorer = fmt.parse(data, meta)
    return load_booster_model(files, meta, flavor=fmt.library, booster=booster,
                              scorer=scorer, trusted=trusted)
