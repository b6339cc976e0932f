"""Optimizer: the base class, holding parameter groups and per-parameter state, as torch.optim.

`params` is an iterable of Tensors (one group) or of dicts, each {"params": tensors, **options}:
a group's options override the optimizer's defaults, so one optimizer can give the embeddings
no weight decay and the rest some. Every hyperparameter lives in `param_groups[i]` (a plain
dict); a learning-rate scheduler writes `group["lr"]` before each `step()`.

Each `step()` updates `p.data` in place, one whole array per parameter, in the parameter's dtype:
hyperparameters are read as Python floats (a numpy float64 `lr` from a schedule would otherwise
promote float32 work to float64). Parameters whose `.grad` is None are skipped, as in PyTorch.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..autograd import increment_version
from ..tensor import Tensor


def check_range(name: str, value: float, low: float, high: float = math.inf,
                high_open: bool = False) -> float:
    """`value` as a float, or a ValueError naming the hyperparameter and its interval."""
    value = float(value)
    if not (low <= value and (value < high if high_open else value <= high)):
        bracket = ")" if high_open else "]"
        raise ValueError(f"{name} must be in [{low}, {high}{bracket}, got {value}")
    return value


class Optimizer:
    """Holds `param_groups` (a list of dicts: "params" and the hyperparameters) and `state`
    (a dict keyed by parameter: its buffers as numpy arrays, and a step count).

    Subclasses set `state_names` (the buffers they may keep), validate a group's options in
    `_check_group` and write the update of one parameter in `_update`.
    """

    state_names: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Tensor, dict[str, Any]] = {}
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], Mapping):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: Mapping[str, Any]) -> None:
        """Add a group {"params": tensors, **options}; missing options take the defaults."""
        kind = type(self).__name__
        if not isinstance(group, Mapping) or "params" not in group:
            raise TypeError(f"{kind}: a parameter group must be a dict with a 'params' entry, "
                            f"got {type(group).__name__}")
        unknown = [k for k in group if k != "params" and k not in self.defaults]
        if unknown:
            raise ValueError(f"{kind}: unknown option(s) {', '.join(map(repr, unknown))} "
                             "in a parameter group "
                             f"(options: {', '.join(self.defaults)})")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        index = len(self.param_groups)
        if not params:
            raise ValueError(f"{kind}: parameter group {index} is empty")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(params):
            if not isinstance(p, Tensor) or not p.requires_grad or not p.is_leaf:
                raise TypeError(f"{kind}: parameter {i} of group {index} is not a leaf Tensor "
                                "that requires grad")
            if id(p) in seen:
                raise ValueError(f"{kind}: parameter {i} of group {index} appears more than once")
            seen.add(id(p))
        full = {**self.defaults, **{k: v for k, v in group.items() if k != "params"}, "params": params}
        self._check_group(full)
        self.param_groups.append(full)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Raise a ValueError for an option out of range (each optimizer checks its own)."""
        group["lr"] = check_range(f"{type(self).__name__}: lr", group["lr"], 0.0)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.data[...] = 0

    def step(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p.data, p.grad.data, self.state.setdefault(p, {}), group)
                    increment_version(p)  # a graph that saved the old values must not backward now

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        raise NotImplementedError

    def _required_state(self, group: dict[str, Any]) -> tuple[str, ...]:
        """The buffers a parameter of this group has once it has been stepped."""
        return self.state_names

    # ----- state ---------------------------------------------------------------------------
    def _indexed_params(self) -> list[tuple[Tensor, dict[str, Any]]]:
        """Every parameter with its group, numbered across the groups in order (as PyTorch's
        state_dict numbers them)."""
        return [(p, group) for group in self.param_groups for p in group["params"]]

    def state_dict(self) -> dict[str, np.ndarray]:
        """Numpy arrays only, so it fits an .npz:
        "state.{i}.{name}" -> a copy of parameter i's buffer (i counts across the groups),
        "param_groups.{g}.{option}" -> group g's options (lr, betas, ...),
        "param_groups.{g}.params" -> the indices of group g's parameters."""
        out: dict[str, np.ndarray] = {}
        for i, (p, _) in enumerate(self._indexed_params()):
            for name, value in self.state.get(p, {}).items():
                out[f"state.{i}.{name}"] = np.array(value)
        first = 0
        for g, group in enumerate(self.param_groups):
            for key, value in group.items():
                if key != "params":
                    out[f"param_groups.{g}.{key}"] = np.array(value)
            out[f"param_groups.{g}.params"] = np.arange(first, first + len(group["params"]))
            first += len(group["params"])
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what `state_dict()` returned (for this optimizer type and parameters of the
        same shapes, in groups of the same sizes): buffers and group options, so that training
        resumes bit for bit."""
        op = f"{type(self).__name__}.load_state_dict"
        indexed = self._indexed_params()
        legacy = "lr" in state and not any(k.startswith("param_groups.") for k in state)
        if legacy and len(self.param_groups) == 1:  # the layout before parameter groups: "lr"
            state = {("param_groups.0.lr" if k == "lr" else k): v for k, v in state.items()}
            state["param_groups.0.params"] = np.arange(len(indexed))
        groups: list[dict[str, Any]] = [{} for _ in self.param_groups]
        restored: list[dict[str, Any]] = [{} for _ in indexed]
        for key, value in state.items():
            parts = key.split(".")
            value = np.asarray(value)
            if len(parts) == 3 and parts[0] == "param_groups" and parts[1].isdigit():
                g = int(parts[1])
                if g >= len(self.param_groups):
                    raise ValueError(f"{op}: {key!r} is for parameter group {g}, but there are "
                                     f"{len(self.param_groups)}")
                groups[g][parts[2]] = value
            elif (len(parts) == 3 and parts[0] == "state" and parts[1].isdigit()
                  and parts[2] in self.state_names):
                i, name = int(parts[1]), parts[2]
                if i >= len(indexed):
                    raise ValueError(f"{op}: {key!r} is for parameter {i}, but there are {len(indexed)}")
                p = indexed[i][0]
                if name == "step":
                    restored[i][name] = int(value)
                elif value.shape != p.shape:
                    raise ValueError(f"{op}: {key!r} has shape {value.shape}, parameter {i} has {p.shape}")
                else:
                    restored[i][name] = np.array(value, dtype=p.dtype)
            else:
                raise ValueError(f"{op}: unexpected key {key!r} (expected 'param_groups.<g>.<option>' and "
                                 f"'state.<i>.<name>' with name in {self.state_names})")
        for g, (options, group) in enumerate(zip(groups, self.param_groups)):
            if "params" not in options or "lr" not in options:
                raise ValueError(f"{op}: the state has no 'param_groups.{g}.params' and "
                                 f"'param_groups.{g}.lr' "
                                 f"entries ({len(self.param_groups)} parameter groups expected)")
            if len(options["params"]) != len(group["params"]):
                raise ValueError(f"{op}: parameter group {g} has {len(group['params'])} parameters, "
                                 f"the state has {len(options['params'])}")
        for i, ((_, group), entries) in enumerate(zip(indexed, restored)):
            missing = [name for name in self._required_state(group) if name not in entries]
            if entries and missing:
                raise ValueError(f"{op}: the state of parameter {i} is incomplete: "
                                 f"missing {', '.join(missing)}")
        for options, group in zip(groups, self.param_groups):
            for key, value in options.items():
                if key != "params":
                    group[key] = _option(value)
        self.state = {p: entries for (p, _), entries in zip(indexed, restored) if entries}


def _option(value: np.ndarray) -> Any:
    """A saved group option back as a Python value: bool, float, or a tuple of floats."""
    if value.ndim:
        return tuple(float(v) for v in value)
    return bool(value) if value.dtype == np.bool_ else float(value)
