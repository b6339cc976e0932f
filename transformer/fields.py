"""Settings checked against a table: one rule for every config a user or a file can give.

A config class (a dataclass) declares each field's type in its annotation and, in two small
tables, the inclusive range of each number and the choices of each string. `check_fields`
applies both to an instance (its `__post_init__` calls it), and `from_dict` reads untrusted
JSON (a checkpoint's) into the class: unknown and missing keys, wrong types, non-finite and
out-of-range numbers are each a one-line error naming the key, raised before anything is
built from the values. A new field is one line in the dataclass and, if it is a number or a
string, one line in its table.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", str(hint))


def check_value(
    what: str,
    name: str,
    value: Any,
    hint: Any,
    limits: Mapping[str, tuple[float, float]],
    choices: Mapping[str, tuple[str, ...]],
) -> None:
    """Raise TypeError (wrong type) or ValueError (out of range, not a choice) for one field."""
    options = (
        typing.get_args(hint)
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
        else (hint,)
    )
    if value is None:
        if type(None) in options:
            return
        raise TypeError(f"{what}: {name} must be {_type_name(hint)}, got None")
    kind = next(o for o in options if o is not type(None))
    origin = typing.get_origin(kind)
    if origin is tuple:  # a fixed-length tuple of numbers, e.g. betas (JSON gives a list)
        if not isinstance(value, (tuple, list)) or len(value) != len(typing.get_args(kind)):
            raise TypeError(
                f"{what}: {name} must be a list of {len(typing.get_args(kind))} numbers, got {value!r}"
            )
        for i, (item, item_kind) in enumerate(zip(value, typing.get_args(kind))):
            check_value(what, f"{name}[{i}]", item, item_kind, limits, {})
        if name in limits and not all(limits[name][0] <= v <= limits[name][1] for v in value):
            raise ValueError(
                f"{what}: {name}={list(value)} must lie in [{limits[name][0]}, {limits[name][1]}]"
            )
        return
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:  # numpy integers too
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise TypeError(
            f"{what}: {name} must be {_type_name(kind)}, got {type(value).__name__} {value!r:.60}"
        )
    if kind is float and not math.isfinite(value):
        raise ValueError(f"{what}: {name} must be a finite number, got {value}")
    if name in limits:
        low, high = limits[name]
        if not low <= value <= high:
            raise ValueError(f"{what}: {name}={value!r:.40} must lie in [{low}, {high}]")
    if name in choices and value not in choices[name]:
        raise ValueError(f"{what}: {name}={value!r:.40} must be one of {choices[name]}")


def check_fields(
    instance: Any, limits: Mapping[str, tuple[float, float]], choices: Mapping[str, tuple[str, ...]]
) -> None:
    """Check every field of a dataclass instance against its annotation and the tables."""
    cls = type(instance)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        check_value(cls.__name__, f.name, getattr(instance, f.name), hints[f.name], limits, choices)


def from_dict(cls: type[T], values: Any, what: str | None = None) -> T:
    """Build the dataclass `cls` from untrusted `values` (JSON), refusing unknown and missing
    keys with one line naming them; the values themselves are checked by `cls`'s
    `__post_init__` (through `check_fields`)."""
    what = what or cls.__name__
    if not isinstance(values, dict):
        raise TypeError(f"{what}: expected a JSON object of settings, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in values if k not in fields]
    if unknown:
        raise ValueError(f"{what}: unknown key {unknown[0]!r} (known keys: {', '.join(fields)})")
    required = [
        name
        for name, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [name for name in required if name not in values]
    if missing:
        raise ValueError(f"{what}: missing key {missing[0]!r}")
    return cls(**values)
