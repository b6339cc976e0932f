"""dtypes: their names, the default floating dtype, and the one rule by which dtypes combine.

minigrad's dtypes are numpy's; the names below (`minigrad.float32`, `minigrad.int64`, ...) are
numpy dtype objects, so `t.dtype == minigrad.float32` and `dtype=np.float32` mean the same.

The rule is PyTorch's (`torch.result_type`), and every op that mixes dtypes asks it here:

- data without a dtype of its own: a Python (or numpy) bool is `bool`, an int `int64`, a float
  the default float dtype (float32 unless `set_default_dtype` changed it); so are lists of them.
- dtypes form three categories, bool < integer < floating. Operands are grouped by how much
  they count: tensors with at least one dimension, then 0-d tensors, then plain numbers.
  Within a group the dtypes promote as numpy promotes them (int32 with int64 is int64,
  float32 with float64 is float64); across categories the higher category's dtype wins.
- A less-counting group changes the result only when it brings a higher category: a float
  number leaves a float16 tensor float16 and makes an int64 tensor the default float dtype,
  while an int number leaves an int32 tensor int32. So `ids + 1` stays int, `t * 0.5` keeps
  t's float dtype, and a float64 0-d tensor does not widen a float32 matrix.
- Ops that only make sense on real numbers (true division, exp, log, sqrt, tanh, sigmoid,
  mean, var) give the default float dtype for integer and bool inputs.

numpy's own rule differs in the places that matter here (int64 with float32 is float64 in
numpy, float32 in PyTorch; a 0-d float64 array widens float32 in numpy 2), which is why the
ops do not leave promotion to numpy.
"""
from __future__ import annotations

from typing import Any

import numpy as np

float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int8 = np.dtype(np.int8)
int16 = np.dtype(np.int16)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
bool_ = np.dtype(np.bool_)  # `minigrad.bool`; named with an underscore here so as not to hide the builtin

_default_float = float32

_BOOL, _INTEGER, _FLOATING = 0, 1, 2
_CATEGORY = {"b": _BOOL, "i": _INTEGER, "u": _INTEGER, "f": _FLOATING}
_NUMBERS, _ZERO_DIM, _DIMENSIONED = 0, 1, 2  # the operand groups, least counting first


def get_default_dtype() -> np.dtype:
    """The floating dtype that Python floats, lists of floats and the random and filled
    constructors get (float32 unless changed)."""
    return _default_float


def set_default_dtype(dtype: Any) -> None:
    """Change the default floating dtype, for the whole process, as `torch.set_default_dtype`:
    e.g. float64 for gradient checks. Integer and bool dtypes cannot be the default."""
    global _default_float
    dtype = as_dtype(dtype, "set_default_dtype")
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: only floating-point dtypes can be the default, got {dtype}")
    _default_float = dtype


def or_default(dtype: Any, op: str) -> np.dtype:
    """`dtype` as a numpy dtype, or the default float dtype when it is None (the default of
    every constructor and layer that makes floating data)."""
    return _default_float if dtype is None else as_dtype(dtype, op)


def as_dtype(dtype: Any, op: str) -> np.dtype:
    """Any spelling of a dtype (`minigrad.float32`, `np.float32`, "float32") -> a numpy dtype
    that minigrad supports, or a TypeError naming the op."""
    try:
        result = np.dtype(dtype)
    except TypeError:
        result = None
    if result is None or result.kind not in _CATEGORY:
        on_device = dtype in ("cpu", "cuda")
        hint = " (minigrad runs on the CPU only: there is no device to move to)" if on_device else ""
        raise TypeError(f"{op}: {dtype!r} is not a supported dtype (bool, integer or floating){hint}")
    return result


def is_floating(dtype: np.dtype) -> bool:
    return dtype.kind == "f"  # as np.issubdtype(dtype, np.floating), ten times faster


def as_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Python data (a number, a nested list) as an array: with `dtype` if given, else inferred
    as PyTorch infers it (bool, int64, or the default float dtype)."""
    array = np.asarray(data)
    if dtype is not None:
        return array.astype(as_dtype(dtype, "tensor"), copy=False)
    category = _CATEGORY.get(array.dtype.kind)
    if category is None:
        raise TypeError(f"tensor: cannot make a tensor from {type(data).__name__} data {data!r}")
    if category == _BOOL:
        return array
    return array.astype(int64 if category == _INTEGER else _default_float, copy=False)


def promote_types(a: np.dtype, b: np.dtype) -> np.dtype:
    """The smallest dtype both convert to, as `torch.promote_types`: within a category as
    numpy promotes, across categories the higher category's dtype (int64 with float16 is
    float16, where numpy would say float64)."""
    category_a, category_b = _CATEGORY[a.kind], _CATEGORY[b.kind]
    if category_a != category_b:
        return a if category_a > category_b else b
    return np.promote_types(a, b)


def is_number(value: Any) -> bool:
    """A Python or numpy scalar: an operand that takes its dtype from the others."""
    return isinstance(value, (bool, int, float, np.number, np.bool_))


def _number_dtype(value: Any) -> np.dtype:
    if isinstance(value, (bool, np.bool_)):
        return bool_
    if isinstance(value, (int, np.integer)):
        return int64
    return _default_float


def _operand(value: Any) -> tuple[np.dtype, int]:
    """(dtype, group) of one operand: a Tensor or array by its own dtype, a number weakly.
    (Python's own number types are tested first, by identity: this runs for every op that
    meets a number, and isinstance against numpy's scalar types costs more.)"""
    kind = type(value)
    if kind is float:
        return _default_float, _NUMBERS
    if kind is int:
        return int64, _NUMBERS
    if kind is bool:
        return bool_, _NUMBERS
    array = value if kind is np.ndarray else getattr(value, "data", None)  # a Tensor's array
    if isinstance(array, np.ndarray):
        return array.dtype, _DIMENSIONED if array.ndim else _ZERO_DIM
    if is_number(value):  # a numpy scalar (whose .data is a buffer, not an array)
        return _number_dtype(value), _NUMBERS
    array = as_array(value)  # a list: a tensor in the making
    return array.dtype, _DIMENSIONED if array.ndim else _ZERO_DIM


def _combine(higher: np.dtype | None, lower: np.dtype | None) -> np.dtype | None:
    """The result of a more-counting group `higher` and a less-counting group `lower`."""
    if higher is None:
        return lower
    if lower is None or _CATEGORY[higher.kind] >= _CATEGORY[lower.kind]:
        return higher
    return promote_types(higher, lower)


def result_type(*operands: Any) -> np.dtype:
    """The dtype an op computes in when it meets these operands (Tensors, arrays, numbers,
    lists), as `torch.result_type`; see the module docstring for the rule."""
    groups: list[np.dtype | None] = [None, None, None]
    for value in operands:
        dtype, group = _operand(value)
        seen = groups[group]
        groups[group] = dtype if seen is None else promote_types(seen, dtype)
    result = _combine(groups[_DIMENSIONED], _combine(groups[_ZERO_DIM], groups[_NUMBERS]))
    if result is None:
        raise TypeError("result_type: no operands")
    return result


def float_result_type(*operands: Any) -> np.dtype:
    """`result_type`, with integer and bool results replaced by the default float dtype: the
    dtype of true division and of functions such as exp and sqrt."""
    return floating(result_type(*operands))


def floating(dtype: np.dtype) -> np.dtype:
    """`dtype` if it is floating, else the default float dtype."""
    return dtype if dtype.kind == "f" else _default_float
