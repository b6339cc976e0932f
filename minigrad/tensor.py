"""Tensor: a numpy array, an optional gradient, and the graph node that produced it.

Every operator and method here checks its arguments and calls one op's `apply`, so the
gradient of `t.exp()` is one hop away, in `ops.elementwise.Exp.backward`; the math lives in
`minigrad.ops`. The derived methods say so on their first line and are written over other
methods, most in one line (`sqrt` is `x ** 0.5`, `mean` is `sum / count`, `squeeze` and `unsqueeze` are
reshapes, `transpose` and `T` permutations); the ops kept although derivable are listed, with
the reason, in the docstrings of `ops.elementwise` and `ops.reduce`. In-place methods run the
out-of-place op and write its result back. `apply_function`, at the top, is the one place where
Tensors become arrays for an op's forward and its result becomes a Tensor again.
"""
from __future__ import annotations

import math
import operator
import threading
import weakref
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from . import autograd, dtypes
from .dims import normalize_dim, normalize_dims
from .ops import elementwise as ew
from .ops import index as index_ops
from .ops import linalg, reduce, shape
from .ops import nn as nn_ops

Dim = int | tuple[int, ...] | None


_is_float = dtypes.is_floating
_VersionCounter = autograd.VersionCounter


def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    """numpy arrays keep their dtype unless `dtype` is given; lists and Python scalars get the
    dtype PyTorch infers (bool, int64, or the default float dtype: see minigrad.dtypes)."""
    if isinstance(data, Tensor):
        data = data._data
    if isinstance(data, (np.ndarray, np.generic)):
        return np.asarray(data, dtype=None if dtype is None else dtypes.as_dtype(dtype, "tensor"))
    return dtypes.as_array(data, dtype)


def apply_function(fn: type[autograd.Function], inputs: Sequence[Any], kwargs: dict[str, Any]) -> Tensor:
    """Run op `fn` on Tensors (numbers among `inputs` are wrapped first, and the arrays cast
    as the op's `promotion` says: see op_inputs): its forward sees the arrays, and when grad
    mode is on and some input requires grad, the ctx becomes the result's `grad_fn`.
    `Function.apply` calls this through the Tensor class of its inputs."""
    tensors, arrays = op_inputs(inputs, fn.promotion)
    ctx = fn()
    record = False
    if autograd.is_grad_enabled():
        # What the node remembers of its inputs, in one plain loop: this runs once per op, and
        # each extra list comprehension or property call is a measurable share of a small op.
        needs, parents, shapes = [], [], []
        for t in tensors:
            needs.append(t._requires_grad)
            parents.append(t if t.grad_fn is None else t.grad_fn)
            shapes.append(t._data.shape)
        record = True in needs
    # Known before forward (as in PyTorch), so that an op saves only the arrays that the
    # gradients it will compute need; all False when no graph is recorded.
    ctx.needs_input_grad = tuple(needs) if record else (False,) * len(tensors)
    out = fn.forward(ctx, *arrays, **kwargs)
    if type(out) is not np.ndarray:  # numpy turns 0-d results into scalars
        out = np.asarray(out)
    result = Tensor._wrap(out)
    if out.base is not None:  # a view (reshape, transpose, basic indexing) of an input's memory
        _share_versions(result, out.base, tensors)
    if not record:
        return result
    ctx.connect(tuple(parents), tuple(shapes), out)
    saved = ctx.__dict__.get("_saved")
    if saved:
        _watch_versions(ctx, saved, tensors, result)
    result.grad_fn = ctx
    result._requires_grad = True
    return result


def _share_versions(view: Tensor, base: np.ndarray, tensors: Sequence[Tensor]) -> None:
    """A view shares its input's version counter (an in-place change through either is a
    change of both, as in PyTorch) and remembers, weakly, the tensor that owns the memory."""
    for t in tensors:
        if base is t._data or base is t._data.base:
            view._version_counter = t._version_counter
            owner = t.__dict__.get("_base")
            view._base = owner if owner is not None else weakref.ref(t)
            return


def _watch_versions(ctx: autograd.Function, saved: tuple[Any, ...], tensors: Sequence[Tensor],
                    result: Tensor) -> None:
    """Remember the version of every input (or the output) whose own array the op saved, so
    that backward can refuse to use an array that was changed in place since."""
    watched = []
    for i, array in enumerate(saved):
        if array is None:
            continue
        if array is result._data:
            watched.append((i, result._version_counter, 0, None))
            continue
        for j, t in enumerate(tensors):
            if array is t._data:
                counter = t._version_counter
                watched.append((i, counter, counter.value, j))
                break
    if watched:
        ctx.saved_versions = watched


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    `grad_fn` is the `Function` node that computed this tensor, or None for a leaf (data the
    user made). After `backward()`, leaves with `requires_grad` hold their gradient in `.grad`.
    """

    __slots__ = ("_data", "grad", "_requires_grad", "grad_fn", "_version_counter", "__weakref__", "__dict__")
    _apply_function = staticmethod(apply_function)  # what `Function.apply` calls

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self._data = _to_array(data, dtype)
        self.grad: Tensor | None = None
        self.grad_fn: autograd.Function | None = None
        self._version_counter = autograd.VersionCounter()
        self._requires_grad = False
        self.requires_grad = requires_grad

    @staticmethod
    def _wrap(array: np.ndarray, grad_fn: autograd.Function | None = None) -> Tensor:
        """The fast constructor used by ops: no conversion, no checks. (A static method: it
        always makes a plain Tensor, and a class method's binding costs a share of a small op.)"""
        t = object.__new__(Tensor)
        t._data = array
        t.grad = None
        t.grad_fn = grad_fn
        t._version_counter = _VersionCounter()
        t._requires_grad = grad_fn is not None
        return t

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """numpy meeting a Tensor operand. `array op t` runs the Tensor operator (so that
        `np.float32(2) * t` is a Tensor); an in-place numpy update with a Tensor operand,
        `p.data -= lr * p.grad`, is done on the arrays, as the user meant."""
        if kwargs.get("out") is not None:
            arrays = [x._data if isinstance(x, Tensor) else x for x in inputs]
            return getattr(ufunc, method)(*arrays, **kwargs)
        python_operator = _UFUNC_OPERATORS.get(ufunc) if method == "__call__" and not kwargs else None
        if python_operator is None:
            return NotImplemented  # np.exp(t) and the like: use t.exp()
        # a numpy scalar becomes a Python number, which stays weak (minigrad.dtypes); an array a Tensor
        a, b = (x if isinstance(x, Tensor) else x.item() if isinstance(x, np.generic) else Tensor(x)
                for x in inputs)
        return python_operator(a, b)

    # ----- attributes -------------------------------------------------------------------
    @property
    def data(self) -> np.ndarray:
        """The array itself (no copy). Assigning an array (or a Tensor, whose array is taken)
        replaces it and counts as an in-place change, as does `p.data -= ...`; writing into
        the array's elements (`p.data[0] = 1`, or through `.numpy()`) is not tracked."""
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        if isinstance(value, Tensor):
            value = value._data
        if not isinstance(value, np.ndarray):
            raise TypeError(f"data: expected a numpy array or a Tensor, got {type(value).__name__}; "
                            "use minigrad.tensor(...) to convert")
        if self._requires_grad and not _is_float(value.dtype):
            raise TypeError(f"data: a tensor that requires grad needs floating-point data, got {value.dtype}")
        self._data = value
        self._version_counter.value += 1

    @property
    def _version(self) -> int:
        """How many in-place changes the data has seen (PyTorch's `t._version`)."""
        return self._version_counter.value

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and not _is_float(self._data.dtype):
            raise TypeError(
                f"requires_grad: only floating-point tensors can require gradients, "
                f"this one has dtype {self._data.dtype}"
            )
        if not value and self.grad_fn is not None:
            raise RuntimeError("requires_grad: cannot turn it off on a non-leaf tensor; use .detach()")
        self._requires_grad = bool(value)

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    def size(self, dim: int | None = None) -> tuple[int, ...] | int:
        return self._data.shape if dim is None else self._data.shape[dim]

    def numel(self) -> int:
        return self._data.size

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def numpy(self) -> np.ndarray:
        """The underlying array itself (no copy): changing it changes the tensor. Such writes are
        plain numpy and are not tracked by the version counter (as in PyTorch): change a tensor
        that a graph may have saved through its in-place methods instead."""
        return self._data

    def item(self) -> float | int | bool:
        if self._data.size != 1:
            raise ValueError("item: only a one-element tensor converts to a Python number, got shape "
                             f"{self.shape}")
        return self._data.item()

    def __float__(self) -> float:
        return float(self.item())

    def __repr__(self) -> str:
        body = np.array2string(self._data, separator=", ", prefix="tensor(")
        extra = f", dtype={self.dtype}" if self.dtype != np.float32 else ""
        if self.grad_fn is not None:
            extra += f", grad_fn={type(self.grad_fn).__name__}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # ----- autograd ---------------------------------------------------------------------
    def detach(self) -> Tensor:
        """The same data, cut from the graph (shares memory and the version counter, like
        PyTorch: an in-place change through either is seen by both)."""
        out = Tensor._wrap(self._data)
        out._version_counter = self._version_counter
        return out

    def clone(self) -> Tensor:
        """A copy of the data that stays in the graph (the gradient flows back unchanged)."""
        return ew.Clone.apply(self)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set `requires_grad` in place and return the tensor (for chaining, as in PyTorch)."""
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> None:
        """Keep `.grad` on this non-leaf tensor after backward (leaves always keep it)."""
        if self.grad_fn is not None:
            self.grad_fn.retained = weakref.ref(self)

    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Compute the gradient of this tensor with respect to every leaf that requires grad.

        `gradient` is d(something)/d(self); it may be omitted only for a one-element tensor.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad and has no grad_fn; "
                "did you create the inputs with requires_grad=True, or run under no_grad()?"
            )
        if gradient is None:
            if self._data.size != 1:
                raise RuntimeError(
                    f"backward: grad can be implicitly created only for a one-element output, "
                    f"this one has shape {self.shape}; pass gradient= of that shape"
                )
            grad = np.ones_like(self._data)
        else:
            grad = _to_array(gradient, self.dtype)
            if grad.shape != self.shape:
                raise ValueError(f"backward: gradient has shape {grad.shape} but the tensor has shape "
                                 f"{self.shape}")
        if self.grad_fn is None:
            self._accumulate(grad)
        else:
            autograd.run_backward(self.grad_fn, grad, retain_graph)

    def _accumulate(self, grad: np.ndarray, copy: bool = True) -> None:
        """Add to `.grad`. The incoming array may be a read-only broadcast view or shared
        with another input's gradient, so the first one is copied (unless `copy` is False: the
        caller made it and keeps no reference) and later ones added out of place. A lock makes
        the read-modify-write safe when two threads run backward into the same leaf."""
        with _accumulate_lock:
            if self.grad is None:
                dtype = self._data.dtype
                own = np.array(grad, dtype=dtype) if copy else np.asarray(grad, dtype=dtype)
                self.grad = Tensor._wrap(own)
            else:
                # asarray: 0-d sums are scalars; the dtype: a wider gradient must not widen .grad
                self.grad._data = np.asarray(self.grad._data + grad, dtype=self._data.dtype)

    # ----- arithmetic (numpy broadcasting) -----------------------------------------------
    def __add__(self, other: Any) -> Tensor:
        return ew.Add.apply(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return ew.Add.apply(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return ew.Sub.apply(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return ew.Sub.apply(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return ew.Mul.apply(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return ew.Mul.apply(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return ew.Div.apply(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return ew.Div.apply(other, self)

    def __pow__(self, exponent: Any) -> Tensor:
        if isinstance(exponent, (np.integer, np.floating)):
            exponent = exponent.item()  # a Python number: a numpy float64 would promote float32
        if isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
            dtype = dtypes.result_type(self, exponent)  # an int tensor to a float power is a float
            return ew.PowScalar.apply(self if dtype == self.dtype else self.to(dtype), exponent=exponent)
        return ew.Pow.apply(self, exponent)

    def __rpow__(self, base: Any) -> Tensor:
        return ew.Pow.apply(base, self)

    def __neg__(self) -> Tensor:
        return ew.Neg.apply(self)

    def __matmul__(self, other: Any) -> Tensor:
        return linalg.MatMul.apply(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return linalg.MatMul.apply(other, self)

    # ----- in-place changes ----------------------------------------------------------------
    # Each computes its result with the out-of-place op (recording it when grad mode is on and
    # something requires grad), then writes it into this tensor's own memory and counts a new
    # version, so that a node which saved the old array refuses to run its backward.
    def add_(self, other: Any, alpha: float = 1) -> Tensor:
        self._check_in_place("add_")
        return self._write(self + (other if alpha == 1 else other * alpha), "add_")

    def sub_(self, other: Any, alpha: float = 1) -> Tensor:
        self._check_in_place("sub_")
        return self._write(self - (other if alpha == 1 else other * alpha), "sub_")

    def mul_(self, other: Any) -> Tensor:
        self._check_in_place("mul_")
        return self._write(self * other, "mul_")

    def div_(self, other: Any) -> Tensor:
        self._check_in_place("div_")
        return self._write(self / other, "div_")

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        self._check_in_place("clamp_")
        return self._write(self.clamp(min, max), "clamp_")

    def fill_(self, value: float) -> Tensor:
        """Every element becomes `value` (no gradient flows to the old values)."""
        self._check_in_place("fill_")
        value = value.item() if isinstance(value, Tensor) else value
        return self._write(ew.MaskedFill.apply(self, mask=np.ones((), dtype=bool), value=value), "fill_")

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def copy_(self, src: Any) -> Tensor:
        """Copy `src` (broadcast to this shape, cast to this dtype) into this tensor; the
        gradient flows to `src`."""
        self._check_in_place("copy_")
        src = src if isinstance(src, Tensor) else Tensor(np.asarray(src))
        try:
            np.broadcast_to(src._data, self.shape)
        except ValueError:
            raise ValueError(f"copy_: src of shape {src.shape} does not broadcast to shape {self.shape}"
                             ) from None
        copied = ew.Where.apply(src, self, condition=np.ones((), dtype=bool))
        return self._write(copied, "copy_", casting="unsafe")

    def __iadd__(self, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self.div_(other)

    def __setitem__(self, index: Any, value: Any) -> None:
        """`t[index] = value`: in the graph (gradient to `value`, none to the overwritten
        elements) when grad mode is on and `t` or `value` requires grad."""
        self._check_in_place("setitem")
        index = _plain_index(index)
        value_requires_grad = isinstance(value, Tensor) and value._requires_grad
        if autograd.is_grad_enabled() and (self._requires_grad or value_requires_grad):
            self._write(shape.SetItem.apply(self, value, index=index), "setitem", casting="unsafe")
            return
        try:
            shape.assign(self._data, index, value._data if isinstance(value, Tensor) else value)
        except IndexError as e:
            raise IndexError(f"setitem: index {index!r} is invalid for shape {self.shape}: {e}") from None
        except ValueError as e:
            raise ValueError(f"setitem: cannot assign a value of shape {np.shape(value)} to index {index!r} "
                             f"of a tensor of shape {self.shape}: {e}") from None
        self._version_counter.value += 1

    def _check_in_place(self, op: str) -> None:
        """PyTorch's rule: with grad mode on, a leaf that requires grad (or a view of one) must
        not change in place, since its gradient would belong to a value that no longer exists.
        A view of a tensor in the graph may not either: its base would not learn of the change."""
        if not autograd.is_grad_enabled():
            return
        if self._requires_grad and self.grad_fn is None:
            raise RuntimeError(f"{op}: a leaf Variable that requires grad is being used in an in-place "
                               "operation. Update parameters inside `with minigrad.no_grad():`")
        base_ref = self.__dict__.get("_base")
        base = base_ref() if base_ref is not None else None
        if base is not None and base._requires_grad:
            if base.grad_fn is None:
                raise RuntimeError(f"{op}: a view of a leaf Variable that requires grad is being used in an "
                                   "in-place operation.")
            raise RuntimeError(f"{op}: this tensor is a view of a tensor that requires grad; changing it in "
                               "place would change its base behind the graph's back. Use .clone() first.")

    def _write(self, result: Tensor, op: str, casting: str = "same_kind") -> Tensor:
        """Make `result` (computed from this tensor out of place) its new value: written into
        this tensor's memory (views see it), one more version, and `result`'s node as grad_fn."""
        if result.shape != self.shape:
            raise ValueError(f"{op}: output with shape {list(self.shape)} doesn't match the broadcast shape "
                             f"{list(result.shape)}")
        if not np.can_cast(result.dtype, self.dtype, casting):
            raise TypeError(f"{op}: result type {result.dtype} can't be cast to the desired output type "
                            f"{self.dtype}")
        node = result.grad_fn
        if node is not None:
            node.keep_own_copy(self._data)  # it may have saved the very array about to be overwritten
        try:
            np.copyto(self._data, result._data, casting=casting)
        except ValueError:  # a read-only broadcast view
            raise RuntimeError(f"{op}: cannot write into this tensor of shape {self.shape}: several of its "
                               "elements share one memory location (it comes from expand); use .clone() first"
                               ) from None
        self._version_counter.value += 1
        if node is not None:
            self.grad_fn = node
            self._requires_grad = True
        return self

    # ----- comparisons: bool tensors, outside the graph ----------------------------------
    def _compare(self, other: Any, op: Any) -> Tensor:
        other = other.data if isinstance(other, Tensor) else other
        return Tensor._wrap(op(self._data, other))

    def __lt__(self, other: Any) -> Tensor:
        return self._compare(other, np.less)

    def __le__(self, other: Any) -> Tensor:
        return self._compare(other, np.less_equal)

    def __gt__(self, other: Any) -> Tensor:
        return self._compare(other, np.greater)

    def __ge__(self, other: Any) -> Tensor:
        return self._compare(other, np.greater_equal)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, np.equal)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, np.not_equal)

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        return bool(self.item())

    # ----- elementwise functions ---------------------------------------------------------
    def exp(self) -> Tensor:
        return ew.Exp.apply(self)

    def log(self) -> Tensor:
        return ew.Log.apply(self)

    def sqrt(self) -> Tensor:  # derived: x ** 0.5 (PowScalar has the sqrt fast path)
        return self ** 0.5

    def tanh(self) -> Tensor:
        return ew.Tanh.apply(self)

    def sigmoid(self) -> Tensor:
        return ew.Sigmoid.apply(self)

    def relu(self) -> Tensor:
        return ew.Relu.apply(self)

    def abs(self) -> Tensor:
        return ew.Abs.apply(self)

    def masked_fill(self, mask: Any, value: float) -> Tensor:
        """Put `value` where `mask` (bool, broadcastable to this shape) is True; those
        positions get no gradient."""
        return ew.MaskedFill.apply(self, mask=_bool_mask(mask, self.shape, "masked_fill"), value=value)

    # ----- reductions --------------------------------------------------------------------
    def sum(self, dim: Dim = None, keepdim: bool = False) -> Tensor:
        return reduce.Sum.apply(self, dim=normalize_dims(dim, self.ndim, "sum"), keepdim=keepdim)

    def mean(self, dim: Dim = None, keepdim: bool = False) -> Tensor:  # derived: sum / count
        dims = normalize_dims(dim, self.ndim, "mean")
        count = self._data.size if dims is None else math.prod(self.shape[d] for d in dims)
        return self.sum(dims, keepdim) / count

    def max(self, dim: int | None = None, keepdim: bool = False) -> Tensor | ValuesIndices:
        """With no `dim`, the largest value (0-d; tied maxima share the gradient). With an int
        `dim`, as `torch.max`: the named tuple (values, indices) along it, where the gradient
        goes to the element each index names (the first of tied maxima)."""
        if dim is None:
            return self.amax(None, keepdim)
        return _values_and_indices(self, dim, keepdim, np.argmax, "max")

    def min(self, dim: int | None = None, keepdim: bool = False) -> Tensor | ValuesIndices:
        """The smallest value, or (values, indices) along an int `dim`: as `max`."""
        if dim is None:
            return self.amin(None, keepdim)
        return _values_and_indices(self, dim, keepdim, np.argmin, "min")

    def amax(self, dim: Dim = None, keepdim: bool = False) -> Tensor:
        """The largest values over `dim` (an int, a tuple, or all); ties share the gradient equally."""
        return reduce.Max.apply(self, dim=normalize_dims(dim, self.ndim, "amax"), keepdim=keepdim)

    def amin(self, dim: Dim = None, keepdim: bool = False) -> Tensor:
        """The smallest values over `dim`; ties share the gradient equally."""
        return reduce.Min.apply(self, dim=normalize_dims(dim, self.ndim, "amin"), keepdim=keepdim)

    def var(self, dim: Dim = None, keepdim: bool = False, correction: int = 1) -> Tensor:
        """Variance with Bessel's correction by default (divide by N - correction), as PyTorch."""
        dims = normalize_dims(dim, self.ndim, "var")
        return reduce.Var.apply(self, dim=dims, keepdim=keepdim, correction=correction)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Indices of the largest values (int64, not differentiable; the first of ties)."""
        return Tensor._wrap(np.asarray(np.argmax(self._data, axis=dim, keepdims=keepdim), dtype=np.int64))

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Indices of the smallest values (int64, not differentiable; the first of ties)."""
        return Tensor._wrap(np.asarray(np.argmin(self._data, axis=dim, keepdims=keepdim), dtype=np.int64))

    # ----- shapes ------------------------------------------------------------------------
    def reshape(self, *sizes: Any) -> Tensor:
        return shape.Reshape.apply(self, shape=_target_shape(self, sizes, "reshape"))

    def view(self, *sizes: Any) -> Tensor:
        return shape.Reshape.apply(self, shape=_target_shape(self, sizes, "view"))

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        dim0, dim1 = (normalize_dim(d, self.ndim, "transpose") for d in (dim0, dim1))
        if self.ndim == 0:
            return shape.Permute.apply(self, dims=())
        dims = list(range(self.ndim))
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
        return shape.Permute.apply(self, dims=tuple(dims))

    def permute(self, *dims: Any) -> Tensor:
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        dims = tuple(normalize_dim(d, self.ndim, "permute") for d in dims) if self.ndim else tuple(dims)
        if sorted(dims) != list(range(self.ndim)):
            raise ValueError(f"permute: {dims} is not a permutation of the {self.ndim} dimensions")
        return shape.Permute.apply(self, dims=dims)

    @property
    def T(self) -> Tensor:
        """All dimensions reversed (the matrix transpose for 2-D)."""
        return shape.Permute.apply(self, dims=tuple(reversed(range(self.ndim))))

    def unsqueeze(self, dim: int) -> Tensor:
        dim = normalize_dim(dim, self.ndim + 1, "unsqueeze")
        return shape.Reshape.apply(self, shape=self.shape[:dim] + (1,) + self.shape[dim:])

    def squeeze(self, dim: Dim = None) -> Tensor:
        if dim is None:
            new = tuple(n for n in self.shape if n != 1)
        else:
            dims = normalize_dims(dim, self.ndim, "squeeze")
            new = tuple(n for i, n in enumerate(self.shape) if not (i in dims and n == 1))
        return shape.Reshape.apply(self, shape=new)

    def expand(self, *sizes: Any) -> Tensor:
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
            sizes = tuple(sizes[0])
        return shape.Expand.apply(self, shape=shape.expanded_shape(self.shape, sizes))

    def __getitem__(self, index: Any) -> Tensor:
        return shape.GetItem.apply(self, index=_plain_index(index))

    # ----- common functions as methods ---------------------------------------------------
    def softmax(self, dim: int) -> Tensor:
        """exp(x) / sum(exp(x)) along `dim`: every slice along `dim` becomes a distribution."""
        _require_float(self, "softmax")
        if self.ndim == 0:  # one element along its only dim (0 or -1): softmax 1
            normalize_dim(dim, 0, "softmax")
            return self.reshape(1).softmax(0).reshape(())
        return nn_ops.Softmax.apply(self, dim=normalize_dim(dim, self.ndim, "softmax"))

    def log_softmax(self, dim: int) -> Tensor:
        """log(softmax(x, dim)), computed without forming the softmax (no log of 0)."""
        _require_float(self, "log_softmax")
        if self.ndim == 0:  # log_softmax 0
            normalize_dim(dim, 0, "log_softmax")
            return self.reshape(1).log_softmax(0).reshape(())
        return nn_ops.LogSoftmax.apply(self, dim=normalize_dim(dim, self.ndim, "log_softmax"))

    # ----- more of PyTorch's Tensor methods (each one op, or one line over existing ops) ----
    # elementwise
    def sin(self) -> Tensor:
        return ew.Sin.apply(self)

    def cos(self) -> Tensor:
        return ew.Cos.apply(self)

    def log1p(self) -> Tensor:
        """log(1 + x), accurate where x is tiny."""
        return ew.Log1p.apply(self)

    def sign(self) -> Tensor:
        """-1, 0 or 1 by the sign of each element; its gradient is 0."""
        return ew.Sign.apply(self)

    def square(self) -> Tensor:  # derived: x ** 2
        return self ** 2

    def rsqrt(self) -> Tensor:  # derived: 1 / sqrt(x)
        """1 / sqrt(x)."""
        return 1 / self.sqrt()

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:
        """Each element limited to [min, max] (either may be None); the gradient flows where
        the element is inside (bounds included). Tensor bounds broadcast and get gradients."""
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            low = self if min is None else self.maximum(min)
            return low if max is None else low.minimum(max)
        return ew.Clamp.apply(self, low=min, high=max)

    def clip(self, min: Any = None, max: Any = None) -> Tensor:  # derived: clamp
        """The same as `clamp`."""
        return self.clamp(min, max)

    def maximum(self, other: Any) -> Tensor:
        """The elementwise larger of the two (broadcast); ties split the gradient in half."""
        return ew.Maximum.apply(self, other)

    def minimum(self, other: Any) -> Tensor:
        """The elementwise smaller of the two (broadcast); ties split the gradient in half."""
        return ew.Minimum.apply(self, other)

    def isnan(self) -> Tensor:
        return Tensor._wrap(np.isnan(self.data))

    def isinf(self) -> Tensor:
        return Tensor._wrap(np.isinf(self.data))

    def isfinite(self) -> Tensor:
        return Tensor._wrap(np.isfinite(self.data))

    def where(self, condition: Any, other: Any) -> Tensor:
        """This tensor where `condition` holds, else `other` (as `minigrad.where(condition,
        self, other)`)."""
        return ew.Where.apply(self, other, condition=where_condition(condition, self, other))

    # reductions and scans
    def std(self, dim: Dim = None, keepdim: bool = False, correction: int = 1) -> Tensor:  # derived: var.sqrt
        """The square root of `var` (Bessel's correction by default)."""
        return self.var(dim, keepdim, correction=correction).sqrt()

    def logsumexp(self, dim: Dim, keepdim: bool = False) -> Tensor:
        """log(sum(exp(x))) over `dim`, without overflow (fused; the gradient is the softmax)."""
        return reduce.LogSumExp.apply(self, dim=normalize_dims(dim, self.ndim, "logsumexp"), keepdim=keepdim)

    def prod(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """The product of all elements, or along one int `dim`; exact gradients with zeros."""
        axis = None if dim is None or self.ndim == 0 else normalize_dim(dim, self.ndim, "prod")
        return reduce.Prod.apply(self, dim=axis, keepdim=keepdim and axis is not None)

    def norm(self, p: float | str = "fro", dim: Dim = None, keepdim: bool = False) -> Tensor:
        """The p-norm over `dim` (all elements by default): "fro" or 2 the Euclidean norm, any
        finite p >= 1, or inf for the largest |x|. The gradient at a zero norm is 0."""
        dims = normalize_dims(dim, self.ndim, "norm")
        if p == "fro":
            p = 2
        if isinstance(p, str) or not (p >= 1):
            raise ValueError(f"norm: p must be 'fro', a number >= 1 or inf, got {p!r}")
        if p == math.inf:
            return reduce.Max.apply(self.abs(), dim=dims, keepdim=keepdim)
        return reduce.Norm.apply(self, p=float(p), dim=dims, keepdim=keepdim)

    def cumsum(self, dim: int) -> Tensor:
        """Running sums along `dim`."""
        if self.ndim == 0:
            normalize_dim(dim, 0, "cumsum")
            return self.reshape(1).cumsum(0).reshape(())
        return reduce.CumSum.apply(self, dim=normalize_dim(dim, self.ndim, "cumsum"))

    # shapes
    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:  # derived: reshape
        """Dims start_dim..end_dim merged into one (a 0-d tensor becomes 1-d)."""
        if self.ndim == 0:
            return self.reshape(1)
        start, end = (normalize_dim(d, self.ndim, "flatten") for d in (start_dim, end_dim))
        if start > end:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} "
                             f"for a tensor of shape {self.shape}")
        merged = math.prod(self.shape[start:end + 1])
        return self.reshape(self.shape[:start] + (merged,) + self.shape[end + 1:])

    def unflatten(self, dim: int, sizes: Sequence[int]) -> Tensor:  # derived: reshape
        """Dim `dim` split into `sizes` (one of them may be -1)."""
        d = normalize_dim(dim, self.ndim, "unflatten")
        sizes = shape.resolve_shape((self.shape[d],), tuple(sizes), "unflatten")
        return self.reshape(self.shape[:d] + sizes + self.shape[d + 1:])

    def t(self) -> Tensor:  # derived: transpose
        """The transpose of a matrix; 0-d and 1-d tensors are returned as they are."""
        if self.ndim > 2:
            raise ValueError(f"t: expects a tensor with at most 2 dimensions, got shape {self.shape}")
        return self.transpose(0, 1) if self.ndim == 2 else self

    @property
    def mT(self) -> Tensor:  # derived: transpose
        """The last two dims swapped (a batch of matrices, each transposed)."""
        if self.ndim < 2:
            raise ValueError(f"mT: expects a tensor with at least 2 dimensions, got shape {self.shape}")
        return self.transpose(-2, -1)

    def tril(self, diagonal: int = 0) -> Tensor:  # derived: masked_fill
        """The lower triangle of the last two dims (j - i <= diagonal kept), the rest 0."""
        if self.ndim < 2:
            raise ValueError(f"tril: expects a tensor with at least 2 dimensions, got shape {self.shape}")
        keep = np.tri(*self.shape[-2:], k=diagonal, dtype=bool)
        return self.masked_fill(~keep, 0)

    def triu(self, diagonal: int = 0) -> Tensor:  # derived: masked_fill
        """The upper triangle of the last two dims (j - i >= diagonal kept), the rest 0."""
        if self.ndim < 2:
            raise ValueError(f"triu: expects a tensor with at least 2 dimensions, got shape {self.shape}")
        below = np.tri(*self.shape[-2:], k=diagonal - 1, dtype=bool)
        return self.masked_fill(below, 0)

    def repeat(self, *sizes: Any) -> Tensor:  # derived: reshape, expand, reshape
        """The whole tensor tiled `sizes[i]` times along dim i, as `torch.Tensor.repeat` (extra
        leading sizes add dims)."""
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
            sizes = tuple(sizes[0])
        if len(sizes) < self.ndim or any(int(r) < 0 for r in sizes):
            raise ValueError(f"repeat: needs at least {self.ndim} non-negative counts (one per dim), "
                             f"got {sizes} for shape {self.shape}")
        old = (1,) * (len(sizes) - self.ndim) + self.shape
        paired = sum(((1, n) for n in old), ())  # (1, a, 1, b): a new axis before each dim
        spread = sum(((int(r), n) for r, n in zip(sizes, old)), ())  # (r1, a, r2, b)
        return self.reshape(paired).expand(spread).reshape(tuple(int(r) * n for r, n in zip(sizes, old)))

    def repeat_interleave(self, repeats: Any, dim: int | None = None) -> Tensor:  # derived: expand/index
        """Each element repeated `repeats` times (an int, or one count per element) along `dim`,
        next to itself: [a, b] -> [a, a, b, b]. dim None: of the flattened tensor."""
        x = self.reshape(-1) if dim is None else self
        d = 0 if dim is None else normalize_dim(dim, self.ndim, "repeat_interleave")
        counts = repeats.data if isinstance(repeats, Tensor) else np.asarray(repeats)
        if counts.dtype.kind not in "iu" or counts.ndim > 1 or (counts < 0).any():
            raise ValueError(f"repeat_interleave: repeats must be a non-negative int or 1-d ints, "
                             f"got {repeats!r}")
        n = x.shape[d] if x.ndim else 1
        if counts.ndim == 1 and counts.size not in (1, n):
            raise ValueError(f"repeat_interleave: {counts.size} repeats for size {n} of dim {d}")
        if counts.size == 1:
            r = int(counts.reshape(()))
            out_shape = x.shape[:d] + (n * r,) + x.shape[d + 1:]
            return x.unsqueeze(d + 1).expand(x.shape[:d + 1] + (r,) + x.shape[d + 1:]).reshape(out_shape)
        picks = np.repeat(np.arange(n), counts)
        return x[(slice(None),) * d + (picks,)]

    def split(self, split_size_or_sections: int | Sequence[int],  # derived: slices
              dim: int = 0) -> tuple[Tensor, ...]:
        """Pieces of `split_size` along `dim` (the last may be smaller) or of the listed sizes,
        as `torch.split`. Each piece is a differentiable slice."""
        if self.ndim == 0:
            raise ValueError("split: expected a tensor with at least one dimension, got a 0-d tensor")
        d = normalize_dim(dim, self.ndim, "split")
        n = self.shape[d]
        if isinstance(split_size_or_sections, (int, np.integer)):
            if split_size_or_sections <= 0:
                raise ValueError(f"split: split_size must be positive, got {split_size_or_sections}")
            size = int(split_size_or_sections)
            sizes = [min(size, n - s) for s in range(0, n, size)] or [0]
        else:
            sizes = list(split_size_or_sections)
            if sum(sizes) != n or any(k < 0 for k in sizes):
                raise ValueError(f"split: sections {sizes} do not add up to size {n} of dim {dim}")
        starts = np.cumsum([0] + sizes[:-1])
        lead = (slice(None),) * d
        return tuple(self[lead + (slice(int(s), int(s) + k),)] for s, k in zip(starts, sizes))

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:  # derived: split
        """At most `chunks` pieces along `dim`, each of ceil(size / chunks) (the last smaller),
        as `torch.chunk`."""
        if chunks <= 0:
            raise ValueError(f"chunk: chunks must be positive, got {chunks}")
        if self.ndim == 0:
            raise ValueError("chunk: expected a tensor with at least one dimension, got a 0-d tensor")
        n = self.shape[normalize_dim(dim, self.ndim, "chunk")]
        if n == 0:
            return self.split([0] * chunks, dim)
        return self.split(-(-n // chunks), dim)

    def flip(self, dims: int | Sequence[int]) -> Tensor:  # derived: reversed slices
        """The order of the elements reversed along `dims`."""
        axes = normalize_dims(dims, self.ndim, "flip") or ()
        return self[tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(self.ndim))]

    def roll(self, shifts: int | Sequence[int], dims: int | Sequence[int] | None = None) -> Tensor:
        """Elements shifted by `shifts` along `dims`, wrapping around; dims None: over the
        flattened tensor (shape kept)."""
        if dims is None:
            if not isinstance(shifts, (int, np.integer)):
                raise ValueError(f"roll: without dims, shifts must be one int, got {shifts!r}")
            return shape.Roll.apply(self, shifts=int(shifts), dims=None)
        shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
        dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
        if len(shifts) != len(dims):
            raise ValueError(f"roll: {len(shifts)} shifts for {len(dims)} dims")
        axes = tuple(normalize_dim(d, self.ndim, "roll") for d in dims)
        if self.ndim == 0:
            return self.reshape(1).roll(shifts, 0).reshape(())
        return shape.Roll.apply(self, shifts=tuple(int(s) for s in shifts), dims=axes)

    # indexing by integer tensors
    def gather(self, dim: int, index: Any) -> Tensor:
        """out[i][j] = self[i][index[i][j]] for dim 1 (likewise for other dims and ranks): the
        element along `dim` that `index` names, for every position of `index`."""
        if self.ndim == 0:
            return self.reshape(1).gather(0, _int_index(index, "gather").reshape(1)).reshape(())
        d = normalize_dim(dim, self.ndim, "gather")
        where = _check_index(_int_index(index, "gather"), self.shape, d, "gather")
        return index_ops.Gather.apply(self, index=where, dim=d)

    def scatter_add(self, dim: int, index: Any, src: Any) -> Tensor:
        """A copy with src[i][j] added at [i][index[i][j]] for dim 1 (likewise for other dims):
        repeated indices add up. Differentiable in self and src."""
        d = normalize_dim(dim, self.ndim, "scatter_add")
        where = _check_index(_int_index(index, "scatter_add"), self.shape, d, "scatter_add")
        src = src if isinstance(src, Tensor) else Tensor(np.asarray(src))
        if src.dtype != self.dtype:
            raise TypeError(f"scatter_add: src has dtype {src.dtype}, self has {self.dtype}")
        if src.ndim != where.ndim or any(i > s for i, s in zip(where.shape, src.shape)):
            raise ValueError(f"scatter_add: index of shape {where.shape} is larger than src "
                             f"of shape {src.shape}")
        return index_ops.ScatterAdd.apply(self, src, index=where, dim=d)

    def masked_select(self, mask: Any) -> Tensor:  # derived: a bool index
        """The elements where the bool `mask` (broadcast against self) is True, as a 1-d tensor."""
        mask = _bool_mask(mask, self.shape, "masked_select")
        full = np.broadcast_shapes(mask.shape, self.shape)
        x = self if self.shape == full else self.expand(full)
        return x[np.broadcast_to(mask, full)]

    # sorting
    def sort(self, dim: int = -1, descending: bool = False,  # derived: gather
             stable: bool = False) -> ValuesIndices:
        """(values, indices) sorted along `dim`; NaN counts as the largest value, as PyTorch.
        The values are differentiable (the gradient goes back to each element's place). The
        sort is always stable here."""
        if self.ndim:
            normalize_dim(dim, self.ndim, "sort")
        indices = self.argsort(dim, descending, stable)
        return ValuesIndices(self.gather(dim, indices), indices)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
        """The int64 indices that sort along `dim` (always stable; equal elements keep their order)."""
        if self.ndim == 0:
            normalize_dim(dim, 0, "argsort")
            return Tensor._wrap(np.zeros((), dtype=np.int64))
        return Tensor._wrap(_stable_argsort(self.data, normalize_dim(dim, self.ndim, "argsort"), descending))

    def topk(self, k: int, dim: int = -1, largest: bool = True,  # derived: gather
             sorted: bool = True) -> ValuesIndices:
        """(values, indices) of the k largest (or smallest) elements along `dim`, largest first
        (smallest first for largest=False). The values are differentiable."""
        n = self.shape[normalize_dim(dim, self.ndim, "topk")] if self.ndim else 1
        if not 0 <= k <= n:
            raise ValueError(f"topk: k={k} is out of range for size {n} of dim {dim}")
        order = self.argsort(dim, descending=largest)
        indices = order if self.ndim == 0 else order[(slice(None),) * (dim % self.ndim) + (slice(0, k),)]
        return ValuesIndices(self.gather(dim, indices), indices)

    def tolist(self) -> Any:
        """The data as (nested lists of) Python numbers."""
        return self.data.tolist()

    # ----- dtypes ------------------------------------------------------------------------
    def to(self, dtype: Any) -> Tensor:
        """This tensor in `dtype`, or itself when it has that dtype already (as PyTorch).
        Between floating dtypes the cast is differentiable (the gradient comes back in this
        tensor's dtype); a cast to an integer or bool dtype is outside the graph."""
        target = dtypes.as_dtype(dtype.dtype if isinstance(dtype, Tensor) else dtype, "to")
        if target == self.dtype:
            return self
        if not dtypes.is_floating(target) or not dtypes.is_floating(self.dtype):
            return Tensor._wrap(self._data.astype(target))
        return ew.Cast.apply(self, dtype=target)

    def float(self) -> Tensor:
        return self.to(dtypes.float32)

    def double(self) -> Tensor:
        return self.to(dtypes.float64)

    def half(self) -> Tensor:
        return self.to(dtypes.float16)

    def long(self) -> Tensor:
        return self.to(dtypes.int64)

    def int(self) -> Tensor:
        return self.to(dtypes.int32)

    def bool(self) -> Tensor:
        return self.to(dtypes.bool_)


def _values_and_indices(t: Tensor, dim: int, keepdim: bool, arg: Any, op: str) -> ValuesIndices:
    if not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int (amax and amin take tuples), got {dim!r}")
    if t.ndim == 0:  # a 0-d tensor has one dimension to reduce for PyTorch: dim 0 or -1
        normalize_dim(dim, 0, op)
        return _values_and_indices(t.reshape(1), 0, False, arg, op)
    d = normalize_dim(dim, t.ndim, op)
    if t.shape[d] == 0:
        raise IndexError(f"{op}: cannot reduce over dim {dim} of size 0 (input shape {t.shape})")
    indices = np.asarray(arg(t._data, axis=d, keepdims=True), dtype=np.int64)
    values = reduce.TakeAlongDim.apply(t, indices=indices, dim=d, keepdim=keepdim)
    return ValuesIndices(values, Tensor._wrap(indices if keepdim else indices.squeeze(axis=d)))


_accumulate_lock = threading.Lock()  # one for all leaves: accumulation is short and rare per leaf

# numpy ufuncs that `array op tensor` reaches, and the Tensor operator each one means
_UFUNC_OPERATORS = {
    np.add: operator.add, np.subtract: operator.sub, np.multiply: operator.mul,
    np.true_divide: operator.truediv, np.power: operator.pow, np.matmul: operator.matmul,
    np.less: operator.lt, np.less_equal: operator.le, np.greater: operator.gt,
    np.greater_equal: operator.ge, np.equal: operator.eq, np.not_equal: operator.ne,
}


def _target_shape(t: Tensor, sizes: Sequence[Any], op: str) -> tuple[int, ...]:
    """`reshape(2, -1)` or `reshape((2, -1))` -> the full new shape, checked."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    return shape.resolve_shape(t.shape, tuple(sizes), op)


def _require_float(t: Tensor, op: str, what: str = "input") -> None:
    if not _is_float(t.dtype):
        raise TypeError(f"{op}: {what} must be a floating-point tensor, got dtype {t.dtype}")


def _plain_index(index: Any) -> Any:
    """Tensors and lists inside an index become arrays; numpy understands the rest as is."""
    if isinstance(index, tuple):
        return tuple(_plain_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _bool_mask(mask: Any, target: tuple[int, ...], op: str) -> np.ndarray:
    mask = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"{op}: mask must be a bool array, got dtype {mask.dtype}")
    try:
        np.broadcast_shapes(mask.shape, target)
    except ValueError:
        raise ValueError(f"{op}: mask of shape {mask.shape} does not broadcast to shape {target}") from None
    return mask


class ValuesIndices(NamedTuple):
    """What `max(dim)`, `min(dim)`, `sort` and `topk` return, as PyTorch's
    `torch.return_types`: unpack it (`values, indices = t.max(dim=1)`) or read `.values` and
    `.indices`."""

    values: Tensor
    indices: Tensor


def _stable_argsort(data: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    """numpy's stable argsort (NaN last), or for descending the same on the reversed array,
    reversed back: equal elements keep their order and NaN comes first, as PyTorch."""
    if not descending:
        return np.argsort(data, axis=axis, kind="stable")
    n = data.shape[axis]
    return np.flip(n - 1 - np.argsort(np.flip(data, axis), axis=axis, kind="stable"), axis)


def _int_index(index: Any, op: str) -> np.ndarray:
    array = index.data if isinstance(index, Tensor) else np.asarray(index)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must be integers, got dtype {array.dtype}")
    return array


def _check_index(index: np.ndarray, shape: tuple[int, ...], dim: int, op: str) -> np.ndarray:
    """An index for gather/scatter_add: as many dims as the tensor, no longer than it along
    the other dims, every value in [0, shape[dim])."""
    if index.ndim != len(shape) or any(i > n for d, (i, n) in enumerate(zip(index.shape, shape)) if d != dim):
        raise ValueError(f"{op}: index of shape {index.shape} does not fit a tensor of shape {shape} "
                         f"along dim {dim} (same number of dims, no larger along the others)")
    if index.size and (index.min() < 0 or index.max() >= shape[dim]):
        bad = index.min() if index.min() < 0 else index.max()
        raise IndexError(f"{op}: index {bad} is out of bounds for dim {dim} with size {shape[dim]}")
    return index


def where_condition(condition: Any, a: Any, b: Any) -> np.ndarray:
    """The bool array of `where(condition, a, b)`, checked: bool, and broadcasting with a, b."""
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: condition must be bool, got dtype {cond.dtype}")
    shapes = [cond.shape] + [np.shape(x.data if isinstance(x, Tensor) else x) for x in (a, b)]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"where: shapes {shapes} (condition, a, b) do not broadcast") from None
    return cond


def op_inputs(inputs: Sequence[Any], promotion: str | None) -> tuple[Sequence[Tensor], list[np.ndarray]]:
    """What an op records as its inputs (Tensors) and what its forward computes on (arrays).

    A number operand becomes a Tensor of the dtype it has among the other inputs by
    `dtypes.result_type` (so `t * 2.0` stays float32 and `ids + 1` stays integer); a list or
    array becomes a Tensor of its own dtype. An op's `promotion` then says whether its
    forward sees the arrays as they are (None), all in their result type ("common": Add,
    MatMul, Cat...), or in their floating result type ("float": Div, Exp...).
    """
    arrays = []
    for x in inputs:  # plain loops: this runs once per op, and generators cost a share of it
        if not isinstance(x, Tensor):
            break
        arrays.append(x._data)
    else:
        if promotion is None:
            return inputs, arrays
        first = arrays[0].dtype
        for a in arrays:
            dtype = a.dtype
            if dtype is not first and dtype != first:  # (numpy's own dtypes are singletons)
                break
        else:
            if promotion == "common" or first.kind == "f":
                return inputs, arrays  # the common case: one dtype, nothing to convert
    if len(inputs) == 2:  # the next most common case: `t * 0.5`, `1 - t` with t floating
        a, b = inputs
        if type(b) in (float, int) and isinstance(a, Tensor) and a._data.dtype.kind == "f":
            b = Tensor._wrap(np.asarray(b, dtype=a._data.dtype))  # a number takes a float tensor's dtype
            return (a, b), [a._data, b._data]
        if type(a) in (float, int) and isinstance(b, Tensor) and b._data.dtype.kind == "f":
            a = Tensor._wrap(np.asarray(a, dtype=b._data.dtype))
            return (a, b), [a._data, b._data]
    common = dtypes.result_type(*inputs)
    tensors = []
    for x in inputs:
        if not isinstance(x, Tensor):
            x = Tensor._wrap(np.asarray(x, dtype=common) if dtypes.is_number(x) else _to_array(x))
        tensors.append(x)
    arrays = [t._data for t in tensors]
    if promotion is not None:
        target = common if promotion == "common" else dtypes.floating(common)
        arrays = [a if a.dtype == target else a.astype(target) for a in arrays]
    return tensors, arrays


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Make a leaf tensor. Lists and Python scalars become float32; numpy arrays keep their
    dtype (float64 stays float64); integer and bool tensors cannot require grad.

    The data is always copied, as `torch.tensor` does: changing the array afterwards does not
    change the tensor. (`Tensor(array)`, which the ops use, wraps the array without a copy.)"""
    array = _to_array(data, dtype)
    source = data.data if isinstance(data, Tensor) else data
    if isinstance(source, np.ndarray) and np.may_share_memory(array, source):
        array = array.copy()
    return Tensor(array, requires_grad=requires_grad)
