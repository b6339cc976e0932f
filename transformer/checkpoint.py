"""The model file: one format for a saved model and a training checkpoint alike.

A file is one `.npz` archive (written atomically by `minigrad.save`) holding

    checkpoint          JSON text, the header below
    model.<name>        each weight of `model.state_dict()`, all in one real floating dtype
    optimizer.<key>     the optimizer's `state_dict()`, in a training checkpoint only

and the header is

    {"format": "minigrad-checkpoint", "version": 1,
     "model": "TransformerLM",          the class; its config class is CONFIG_CLASSES[model]
     "config": {...},                   the config's fields (TransformerConfig.to_dict())
     "dtype": "float32",                the dtype of every model.* array
     "data": {...} or null,             the data's describe(): a task, or a text (with its path
                                        and sha256), so the vocabulary travels with the model
     "training": {...} or null}         step, train_config, rng states, history (transformer.train)

`TransformerLM.save` writes it without training state, `transformer.train` with it, and
`read` reads either, as well as the two formats written before this one: a `TransformerLM.save`
file (weights at the top level and a `__config__` JSON entry) and a training checkpoint
(`model_config`, `model.*`, `optimizer.*`, `step`, `train_config`, `data`, `rng`, `history.*`).

The file is untrusted: `read` checks the header, every dtype, and the config against its
limits (`TransformerConfig.from_dict`) and against the number of elements actually stored
(`max_elements`), so that building the model can never allocate much more than the file's own
size; every fault is a one-line ValueError or TypeError naming the key. The training part is
checked by `transformer.train.load_checkpoint`, the data description by
`transformer.tasks.check_description`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import minigrad

from .config import TransformerConfig
from .seq2seq_config import Seq2SeqConfig
from .tasks import check_description

FORMAT = "minigrad-checkpoint"
VERSION = 1
HEADER_KEY = "checkpoint"
MODEL_PREFIX, OPTIMIZER_PREFIX = "model.", "optimizer."
FLOAT_DTYPES = ("float16", "float32", "float64")
HEADER_KEYS = ("format", "version", "model", "config", "dtype", "data", "training")
# The model classes a file may name, and the config class that validates their "config". A
# new model class that uses this format adds a line (its config needs from_dict, to_dict and
# max_elements).
CONFIG_CLASSES: dict[str, type] = {"TransformerLM": TransformerConfig, "Seq2SeqTransformer": Seq2SeqConfig}
# A model built from a file may hold at most this many times the elements stored in the file
# (plus SLACK_ELEMENTS): fixed tables such as the sinusoids are not stored.
GROWTH, SLACK_ELEMENTS = 8, 2**20


@dataclass
class Checkpoint:
    """What `read` returns: checked, nothing built yet."""

    path: str
    model: str  # the class name, e.g. "TransformerLM"
    config: Any  # a CONFIG_CLASSES[model] instance
    weights: dict[str, np.ndarray]  # the model's state_dict (names without "model.")
    dtype: np.dtype
    data: dict[str, Any] | None = None  # the data's describe()
    training: dict[str, Any] | None = None  # raw; checked by transformer.train
    optimizer: dict[str, np.ndarray] = field(default_factory=dict)


def write(
    path: str | os.PathLike,
    model: str,
    config: Any,
    weights: Mapping[str, np.ndarray],
    *,
    data: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    optimizer: Mapping[str, np.ndarray] | None = None,
) -> None:
    """Write one model file (see the module docstring) atomically."""
    dtypes = {np.asarray(w).dtype.name for w in weights.values()}
    if len(dtypes) != 1 or not dtypes <= set(FLOAT_DTYPES):
        raise TypeError(
            f"checkpoint: weights must share one real floating dtype ({', '.join(FLOAT_DTYPES)}), "
            f"got {sorted(dtypes)}"
        )
    header = {
        "format": FORMAT,
        "version": VERSION,
        "model": model,
        "config": config.to_dict(),
        "dtype": dtypes.pop(),
        "data": None if data is None else dict(data),
        "training": None if training is None else dict(training),
    }
    state: dict[str, Any] = {HEADER_KEY: np.array(json.dumps(header))}
    state.update({MODEL_PREFIX + k: v for k, v in weights.items()})
    state.update({OPTIMIZER_PREFIX + k: v for k, v in (optimizer or {}).items()})
    minigrad.save(state, path)


def _json(state: dict[str, np.ndarray], key: str, where: str) -> Any:
    array = state[key]
    if array.dtype.kind != "U" or array.ndim != 0:
        raise TypeError(
            f"{where}: {key!r} must be JSON text, got a {array.dtype} array of shape {array.shape}"
        )
    try:
        return json.loads(str(array))
    except (ValueError, RecursionError) as error:
        raise ValueError(f"{where}: {key!r} is not valid JSON ({str(error)[:80]})") from None


def _part(state: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def _legacy_history(state: Mapping[str, np.ndarray], where: str) -> dict[str, Any]:
    """The history arrays of a training checkpoint of the older format, as the lists of the
    current one (NaN accuracy meant "none")."""
    lists = _part(state, "history.")
    out: dict[str, Any] = {}
    for name, array in lists.items():
        if array.dtype.kind not in "iuf":
            raise TypeError(f"{where}: 'history.{name}' must be numbers, got dtype {array.dtype}")
        out[name] = array.tolist() if array.ndim else array.item()
    if isinstance(out.get("eval_accuracies"), list):
        out["eval_accuracies"] = [None if a != a else a for a in out["eval_accuracies"]]
    return out


def _legacy_optimizer(optimizer: dict[str, np.ndarray], train_config: Any) -> dict[str, np.ndarray]:
    """The optimizer state of the older format ("lr" and "state.<i>.<name>") in the current
    optimizer's layout: one parameter group holding every parameter, whose schedule starts from
    the run's peak learning rate."""
    if "lr" not in optimizer:
        return optimizer
    out = {k: v for k, v in optimizer.items() if k != "lr"}
    indices = {int(k.split(".")[1]) for k in out if k.startswith("state.") and k.split(".")[1].isdigit()}
    out["param_groups.0.lr"] = optimizer["lr"]
    out["param_groups.0.params"] = np.arange(len(indices))
    if isinstance(train_config, dict) and isinstance(train_config.get("lr"), float):
        out["param_groups.0.initial_lr"] = np.array(train_config["lr"])
    return out


def _header(
    state: dict[str, np.ndarray], where: str
) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(header, weights, optimizer state) of a file of any of the three formats."""
    if HEADER_KEY in state:
        header = _json(state, HEADER_KEY, where)
        if not isinstance(header, dict):
            raise TypeError(f"{where}: {HEADER_KEY!r} must be a JSON object")
        if header.get("format") != FORMAT:
            raise ValueError(f"{where}: 'format' is {header.get('format')!r}, not {FORMAT!r}")
        if header.get("version") != VERSION:
            raise ValueError(
                f"{where}: 'version' is {header.get('version')!r}; this minigrad reads version {VERSION}"
            )
        unknown = [k for k in header if k not in HEADER_KEYS]
        if unknown:
            raise ValueError(f"{where}: unknown header key {unknown[0]!r}")
        missing = [k for k in HEADER_KEYS if k not in header]
        if missing:
            raise ValueError(f"{where}: the header has no {missing[0]!r}")
        extra = [k for k in state if k != HEADER_KEY and not k.startswith((MODEL_PREFIX, OPTIMIZER_PREFIX))]
        if extra:
            raise ValueError(f"{where}: unexpected entry {extra[0]!r}")
        return header, _part(state, MODEL_PREFIX), _part(state, OPTIMIZER_PREFIX)
    if "__config__" in state:  # TransformerLM.save (or Seq2SeqTransformer.save) before the common format
        weights = {k: v for k, v in state.items() if k != "__config__"}
        config = _json(state, "__config__", where)
        header = {
            "model": "Seq2SeqTransformer" if isinstance(config, dict) and "src_vocab_size" in config
            else "TransformerLM",
            "config": config,
            "data": None,
            "training": None,
            "dtype": None,
        }
        return header, weights, {}
    if "model_config" in state:  # a training checkpoint before the common format
        needed = ("step", "train_config", "data", "rng")
        missing = [k for k in needed if k not in state]
        if missing:
            raise ValueError(f"{where}: this older training checkpoint has no {missing[0]!r} entry")
        step = state["step"]
        if step.ndim != 0 or step.dtype.kind not in "iu":
            raise TypeError(
                f"{where}: 'step' must be one integer, got a {step.dtype} array of shape {step.shape}"
            )
        training = {
            "step": int(step),
            "config": _json(state, "train_config", where),
            "rng": _json(state, "rng", where),
            "history": _legacy_history(state, where),
        }
        header = {
            "model": "TransformerLM",
            "config": _json(state, "model_config", where),
            "data": _json(state, "data", where),
            "training": training,
            "dtype": None,
        }
        optimizer = _legacy_optimizer(_part(state, OPTIMIZER_PREFIX), training["config"])
        return header, _part(state, MODEL_PREFIX), optimizer
    raise ValueError(
        f"{where}: not a minigrad model file (no {HEADER_KEY!r} entry; nor '__config__' or "
        "'model_config' of the older formats)"
    )


def _check_weights(weights: dict[str, np.ndarray], declared: Any, where: str) -> np.dtype:
    """The one dtype of all weights: a real float, as the header says (when it says)."""
    if not weights:
        raise ValueError(f"{where}: the file holds no model weights")
    for name, array in weights.items():
        if array.dtype.name not in FLOAT_DTYPES:
            raise TypeError(
                f"{where}: weight {name!r} has dtype {array.dtype}; weights must be real floating "
                f"point ({', '.join(FLOAT_DTYPES)})"
            )
    dtypes = sorted({a.dtype.name for a in weights.values()})
    if len(dtypes) > 1:
        odd = next(k for k, a in weights.items() if a.dtype.name != dtypes[0])
        raise TypeError(
            f"{where}: weights of several dtypes ({', '.join(dtypes)}), e.g. {odd!r}; a file holds one"
        )
    if declared is not None and declared != dtypes[0]:
        raise TypeError(f"{where}: the header says dtype {declared!r} but the weights are {dtypes[0]}")
    return np.dtype(dtypes[0])


def _check_optimizer(optimizer: dict[str, np.ndarray], where: str) -> None:
    """Step counts and parameter indices are integers, buffers real floats, group options
    numbers or flags; the optimizer's load_state_dict checks names and shapes."""
    for key, array in optimizer.items():
        if key.startswith("state.") and key.endswith(".step") or key.endswith(".params"):
            wanted, kind = "iu", "an integer"
        elif key.startswith("state."):
            wanted, kind = "f", "a real floating"
        else:
            wanted, kind = "biuf", "a numeric or bool"
        if array.dtype.kind not in wanted:
            raise TypeError(f"{where}: 'optimizer.{key}' has dtype {array.dtype}, expected {kind} dtype")


def read(path: str | os.PathLike) -> Checkpoint:
    """Read and check a model file of any minigrad format (see the module docstring); builds
    nothing. Errors are one line naming the file and the key."""
    where = f"checkpoint {os.fspath(path)}"
    state = minigrad.load(path)
    header, weights, optimizer = _header(state, where)
    model = header["model"]
    if model not in CONFIG_CLASSES:
        raise ValueError(f"{where}: 'model' is {model!r}; known models: {', '.join(CONFIG_CLASSES)}")
    try:
        config = CONFIG_CLASSES[model].from_dict(header["config"])
    except (TypeError, ValueError) as error:
        raise type(error)(f"{where}: config: {error}") from None
    dtype = _check_weights(weights, header["dtype"], where)
    stored = sum(a.size for a in weights.values())
    needed = config.max_elements()
    if needed > GROWTH * stored + SLACK_ELEMENTS:
        raise ValueError(
            f"{where}: the config describes a model of up to {needed:,} elements but the file "
            f"stores {stored:,}; refusing to build it"
        )
    _check_optimizer(optimizer, where)
    data = header["data"]
    if data is not None:
        try:
            data = check_description(data)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{where}: data: {error}") from None
    training = header["training"]
    if training is not None and not isinstance(training, dict):
        raise TypeError(f"{where}: 'training' must be a JSON object or null")
    return Checkpoint(os.fspath(path), model, config, weights, dtype, data, training, optimizer)


def check_fits(model: Any, checkpoint: Checkpoint) -> None:
    """A one-line ValueError for the first weight `model` lacks, does not have, or has in
    another shape; called before `load_state_dict`."""
    where = f"checkpoint {checkpoint.path}"
    own = {name: array.shape for name, array in model.state_dict().items()}
    for name, array in checkpoint.weights.items():
        if name not in own:
            raise ValueError(
                f"{where}: unexpected weight 'model.{name}' ({checkpoint.model} with this config has "
                "no such parameter)"
            )
        if array.shape != own[name]:
            raise ValueError(
                f"{where}: weight 'model.{name}' has shape {array.shape}, the config needs {own[name]}"
            )
    missing = [name for name in own if name not in checkpoint.weights]
    if missing:
        raise ValueError(
            f"{where}: missing weight 'model.{missing[0]}'"
            + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
        )


def build(cls: Any, checkpoint: Checkpoint, dtype: Any = None) -> Any:
    """The model of class `cls` (TransformerLM, Seq2SeqTransformer) that `checkpoint` holds:
    built from its config, its weights checked to fit before they are loaded, in the file's
    dtype or `dtype`. The one step behind every model class's `from_checkpoint`."""
    if checkpoint.model not in {base.__name__ for base in cls.__mro__}:  # a subclass loads its base's files
        raise ValueError(f"{cls.__name__}.load: checkpoint {checkpoint.path} holds a {checkpoint.model}, "
                         f"not a {cls.__name__}")
    model = cls(checkpoint.config)
    check_fits(model, checkpoint)
    model.to(checkpoint.dtype if dtype is None else dtype)
    model.load_state_dict(checkpoint.weights)
    return model
