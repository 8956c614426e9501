"""Request schemas generated from a data contract: one pydantic model per served model.

Types, nullability, bounds, allowed values, patterns and lengths all come from the
contract, so the API refuses exactly what training data would have refused, with
per-field errors. Unknown fields are refused unless the server is told to ignore them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model

from lockgate.data.contract import ColumnSpec, Contract
from lockgate.data.normalize import _canonical

INT64 = (-(2**63), 2**63 - 1)
#: Strings without a contract length still get a bound: a request is not a file upload.
DEFAULT_MAX_STRING = 10_000
FLOAT_LIMIT = 1e300


@dataclass(frozen=True, slots=True)
class RequestSchema:
    """The models that validate one record, a batch, and feedback."""

    record: type[BaseModel]
    batch: type[BaseModel]
    feedback: type[BaseModel]
    features: tuple[str, ...]
    max_batch_rows: int
    #: Source spellings -> contract name (the contract's aliases, case and punctuation
    #: ignored), applied before validation exactly as ingestion maps a source's columns.
    renames: Mapping[str, str] = field(default_factory=dict)
    #: Key, entity and event-time columns the model does not read: optional in a record,
    #: logged with the prediction so its label can become a training row.
    context: tuple[str, ...] = ()

    def parse(self, payload: object) -> tuple[list[dict[str, Any]], bool]:
        """Validate a decoded JSON body: ``{"records": [...]}`` or one record.

        Returns:
            ``(rows, is_batch)`` with values cast to the contract's types.

        Raises:
            pydantic.ValidationError: with a location for every bad field.
        """
        if isinstance(payload, Mapping) and "records" in payload:
            records = payload["records"]
            if isinstance(records, list):
                payload = {**payload, "records": [self.canonical(r) for r in records]}
            batch = self.batch.model_validate(payload)
            return [r.model_dump() for r in batch.records], True  # type: ignore[attr-defined]
        return [self.record.model_validate(self.canonical(payload)).model_dump()], False

    def canonical(self, record: object) -> object:
        """A record with source spellings renamed to the contract's names.

        A key is renamed only when it is not a contract name itself and its target is not
        also given (``{"customerId": 1, "customer_id": 2}`` keeps both, so validation
        refuses the extra key instead of silently picking one).
        """
        if not isinstance(record, Mapping) or not self.renames:
            return record
        out: dict[str, Any] = {}
        for key, value in record.items():
            known = key in self.features or key in self.context
            target = key if known else self.renames.get(_canonical(key))
            out[key if target is None or target in record or target in out else target] = value
        return out


def build_schema(contract: Contract, features: list[str], *, model_name: str,
                 label_type: type, allow_unknown_fields: bool = False,
                 max_batch_rows: int = 1000,
                 label_values: Sequence[Any] = (),
                 context: Sequence[str] = ()) -> RequestSchema:
    """Generate the request models for a contract's feature columns.

    Args:
        contract: the data contract the model was trained on.
        features: the columns the model reads (the contract's feature columns).
        model_name: used to name the models in the OpenAPI document.
        label_type: ``str`` for classification, ``float`` for regression (feedback).
        allow_unknown_fields: ignore fields outside the contract instead of refusing.
        max_batch_rows: largest batch accepted in one request.
        label_values: the feedback labels accepted for a classifier (its classes, as
            text and as their JSON values); empty: any text, number or boolean.
        context: columns accepted beside the features but not given to the model (the
            contract's key, entity, event time), each optional, checked like a feature.
    """
    extra: Literal["ignore", "forbid"] = "ignore" if allow_unknown_fields else "forbid"
    config = ConfigDict(extra=extra, title=f"{_title(model_name)}Record")
    fields = {name: _field(contract.column(name)) for name in features}
    fields.update({name: _optional(_field(contract.column(name))) for name in context})
    record = create_model(f"{_title(model_name)}Record", __config__=config, **fields)  # type: ignore[call-overload]
    batch = create_model(
        f"{_title(model_name)}Batch",
        __config__=ConfigDict(extra="forbid"),
        records=(Annotated[list[record], Field(min_length=1, max_length=max_batch_rows)], ...),
    )
    request_id: Any = Annotated[str, Field(min_length=1, max_length=128,
                                           pattern=r"^[A-Za-z0-9_.:-]+$")]
    feedback = create_model(
        f"{_title(model_name)}Feedback",
        __config__=ConfigDict(extra="forbid"),
        request_id=(request_id, ...),
        # a class may arrive as JSON text, number or boolean; serving.feedback checks it
        # against the target's type and classes and stores the served spelling
        label=(_label_annotation(label_type, label_values), ...),
    )
    renames = {_canonical(alias): name for name in (*features, *context)
               for alias in (name, *contract.column(name).aliases)}
    return RequestSchema(record, batch, feedback, tuple(features), max_batch_rows, renames,
                         tuple(context))


def _optional(spec: tuple[Any, Any]) -> tuple[Any, Any]:
    """A field that may be left out (None), with the same checks when it is given."""
    annotation, default = spec
    if default is None:
        return spec
    return annotation | None, None


def _label_annotation(label_type: type, values: Sequence[Any]) -> Any:
    if label_type is float:
        return Annotated[float, Field(allow_inf_nan=False)]
    if values:
        literal = Literal[tuple(values)]  # type: ignore[valid-type]
        if any(isinstance(v, bool) for v in values):
            return literal
        # `True == 1` in Python, so a Literal of 0/1 would take a JSON boolean
        return Annotated[literal, BeforeValidator(_not_boolean)]
    return Annotated[str, Field(max_length=1000)] | bool | int


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic errors as ``{"field", "message", "type"}`` items, field as a dotted path."""
    return [{"field": ".".join(str(p) for p in error["loc"]) or "body",
             "message": error["msg"], "type": error["type"]} for error in exc.errors()]


def _field(spec: ColumnSpec) -> tuple[Any, Any]:
    kind = spec.type
    # Strict: a JSON `false` is not the number 0 and "12" is not 12; an int is a float.
    constraints: dict[str, Any] = {"description": spec.description,
                                   "strict": kind in ("float", "bool", "string", "category")}
    annotation: Any
    extra: list[Any] = []
    if spec.allowed_json:
        constraints.pop("strict")  # a Literal already matches exact values only
        annotation = Literal[spec.allowed_json]
    elif kind == "int":
        low = spec.min
        high = spec.max
        constraints["ge"] = int(low) if low is not None else INT64[0]
        constraints["le"] = int(high) if high is not None else INT64[1]
        # JSON Schema's integer includes 62.0, so lax int (which accepts it) minus the
        # lax extras that are not numbers at all.
        annotation = int
        extra.append(BeforeValidator(_number_not_text))
    elif kind == "float":
        constraints["allow_inf_nan"] = False
        constraints["ge"] = spec.min if spec.min is not None else -FLOAT_LIMIT
        constraints["le"] = spec.max if spec.max is not None else FLOAT_LIMIT
        annotation = float
    elif kind == "bool":
        annotation = bool
    elif kind == "date":
        annotation = dt.date
    elif kind == "datetime":
        annotation = dt.datetime
    else:  # string, category without allowed values
        constraints["max_length"] = spec.max_length or DEFAULT_MAX_STRING
        if spec.regex:
            constraints["pattern"] = spec.regex
        annotation = str
    if spec.nullable:
        return Annotated[annotation | None, Field(**constraints), *extra], None
    return Annotated[annotation, Field(**constraints), *extra], ...


def _not_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("Input should be one of the target's classes, not a boolean")
    return value


def _number_not_text(value: Any) -> Any:
    if isinstance(value, bool | str | bytes):
        raise ValueError("Input should be a valid integer, not text or a boolean")
    return value


def _title(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", "_").replace(".", "_")
                   .split("_")) or "Model"
