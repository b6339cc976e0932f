"""The one model file format: both older formats still load, every part of an untrusted file
is checked before anything is built, and a small hostile file is refused fast and cheaply."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import typing
from pathlib import Path

import numpy as np
import pytest

import minigrad
from transformer import TransformerConfig, TransformerLM
from transformer import checkpoint as ckpt
from transformer.config import CHOICES, LIMITS
from transformer.seq2seq_config import SEQ2SEQ_CHOICES, SEQ2SEQ_LIMITS, Seq2SeqConfig
from transformer.tasks import make_task
from transformer.train import TRAIN_CHOICES, TRAIN_LIMITS, TrainConfig, load_checkpoint, train

DATA = Path(__file__).parent / "data"
IDS = np.array([[1, 2, 3, 4]])


# ----- the older formats (files written by the code before the common format) ---------------
@pytest.mark.parametrize(
    "name, dtype, logit_sum",
    [
        ("legacy_save_float32.npz", np.float32, -12.119442),
        ("legacy_save_float64.npz", np.float64, -13.347107208864136),
    ],
)
def test_files_of_the_older_save_format_load(name, dtype, logit_sum):
    model = TransformerLM.load(DATA / name)
    assert model.config == TransformerConfig(vocab_size=12, max_len=8, d_model=8, n_heads=2, n_layers=1)
    assert all(p.dtype == dtype for p in model.parameters())
    assert model(IDS)[0].data.sum() == pytest.approx(logit_sum, rel=1e-6)


def test_training_checkpoints_of_the_older_format_load_and_resume(tmp_path):
    old = load_checkpoint(DATA / "legacy_train_copy.npz")
    assert old.step == 4 and old.data["task"] == "copy" and old.history.eval_steps == [2, 4]
    assert old.history.eval_accuracies[0] is not None and len(old.history.losses) == 4
    model = TransformerLM.load(DATA / "legacy_train_copy.npz")  # the same loader reads it
    assert np.array_equal(model(IDS)[0].data, old.build_model()(IDS)[0].data)
    task = make_task("copy", length=3, base=10, n_eval=20)
    config = dataclasses.replace(old.train_config, steps=6)
    history = train(
        TransformerLM(old.model_config),
        task,
        config,
        out=tmp_path / "new.npz",
        resume_from=DATA / "legacy_train_copy.npz",
        log=None,
    )
    assert len(history.losses) == 6 and load_checkpoint(tmp_path / "new.npz").step == 6


# ----- the format ---------------------------------------------------------------------------
def small_model(**fields) -> TransformerLM:
    minigrad.manual_seed(0)
    return TransformerLM(
        TransformerConfig(
            **{"vocab_size": 12, "max_len": 6, "d_model": 8, "n_heads": 2, "n_layers": 1, **fields}
        )
    )


def test_the_header_says_what_the_file_holds(tmp_path):
    model = small_model()
    model.save(tmp_path / "m.npz", data=make_task("copy", length=2, n_eval=10).describe())
    state = minigrad.load(tmp_path / "m.npz")
    header = json.loads(str(state["checkpoint"]))
    assert (
        header["format"] == "minigrad-checkpoint"
        and header["version"] == 1
        and header["model"] == "TransformerLM"
    )
    assert header["config"] == model.config.to_dict() and header["dtype"] == "float32"
    assert header["data"]["task"] == "copy" and header["training"] is None
    assert sorted(k for k in state if k != "checkpoint") == sorted("model." + k for k in model.state_dict())
    assert ckpt.read(tmp_path / "m.npz").data == header["data"]
    with pytest.raises(ValueError, match="no training state .* TransformerLM.load reads it"):
        load_checkpoint(tmp_path / "m.npz")


def test_one_dtype_rule_the_files_dtype_or_the_one_asked_for(tmp_path):
    model = small_model().to(np.float64)
    model.save(tmp_path / "m.npz")
    assert TransformerLM.load(tmp_path / "m.npz").head.weight.dtype == np.float64
    assert TransformerLM.load(tmp_path / "m.npz", dtype=np.float32).head.weight.dtype == np.float32


def test_every_config_field_has_a_limit_or_choices():
    """New fields must say what a file may set them to."""
    tables = ((TransformerConfig, LIMITS, CHOICES), (TrainConfig, TRAIN_LIMITS, TRAIN_CHOICES),
              (Seq2SeqConfig, SEQ2SEQ_LIMITS, SEQ2SEQ_CHOICES))
    for cls, limits, choices in tables:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            text = str(hints[f.name])
            if "bool" in text:
                continue
            table = choices if "str" in text else limits
            assert f.name in table, f"{cls.__name__}.{f.name} has no entry in its limits/choices table"


def test_max_elements_bounds_the_real_model():
    for fields in (
        {},
        {"d_ff": 40, "n_layers": 3},
        {"head_dim": 16, "n_heads": 3},
        {"pos_encoding": "sinusoidal"},
        {"norm_first": True, "score": "additive"},
        {"shared_qk": True},
    ):
        model = small_model(**fields)
        real = sum(p.data.size for p in model.parameters()) + model.config.max_len * model.config.d_model
        assert real <= model.config.max_elements() <= 4 * real


# ----- hostile files: each fault one line naming the key, before anything is built -----------
def write_with(tmp_path: Path, name: str, header=None, arrays=None, drop=()) -> Path:
    """A valid small checkpoint with its header and arrays changed."""
    model = small_model()
    path = tmp_path / name
    train(
        model,
        make_task("copy", length=2, n_eval=10),
        TrainConfig(steps=2, batch_size=2, eval_interval=2, warmup_steps=1),
        out=path,
        log=None,
    )
    state = dict(minigrad.load(path))
    h = json.loads(str(state["checkpoint"]))
    for dotted, value in (header or {}).items():
        *parents, last = dotted.split(".")
        target = h
        for p in parents:
            target = target[p]
        target[last] = value
    state["checkpoint"] = np.array(json.dumps(h))
    state.update(arrays or {})
    for key in drop:
        del state[key]
    minigrad.save(state, path)
    return path


HOSTILE = [
    ({"config.d_ff": 10**12}, {}, ValueError, r"config: .*d_ff=1000000000000 must lie in"),
    ({"config.n_layers": 10**30}, {}, ValueError, r"n_layers=1000000000000000000000000000000 must lie in"),
    (
        {"config.d_model": 4096, "config.d_ff": 2**20},
        {},
        ValueError,
        "describes a model of up to .* refusing",
    ),
    ({"config.colour": "red"}, {}, ValueError, "config: .*unknown key 'colour'"),
    ({"config.d_model": "8"}, {}, TypeError, "d_model must be int, got str"),
    ({"config.dropout": float("nan")}, {}, ValueError, "dropout must be a finite number"),
    ({"data.length": 10**9}, {}, ValueError, r"data: dataset: length=1000000000 must lie in \[1, 128\]"),
    ({"data.task": "mul"}, {}, ValueError, "task='mul' must be one of"),
    ({"version": 7}, {}, ValueError, "'version' is 7; this minigrad reads version 1"),
    (
        {"training.config.batch_size": 10**9},
        {},
        ValueError,
        "training.config: .*batch_size=1000000000 must lie",
    ),
    ({"training.config.lr": float("inf")}, {}, ValueError, "lr must be a finite number"),
    ({"training.step": -3}, {}, ValueError, "'training.step' must be an integer"),
    (
        {"training.history.losses": "oops"},
        {},
        TypeError,
        "'training.history.losses' must be a list of numbers",
    ),
    (
        {"training.rng.data": {"bit_generator": "PCG64", "state": 5}},
        {},
        ValueError,
        "'training.rng.data' is not",
    ),
    (
        {},
        {"model.head.bias": np.zeros(12, np.complex64)},
        TypeError,
        "'head.bias' has dtype complex64; weights must",
    ),
    ({}, {"model.head.bias": np.zeros(12, np.int64)}, TypeError, "'head.bias' has dtype int64"),
    ({}, {"model.head.bias": np.zeros(12, np.float64)}, TypeError, "several dtypes"),
    ({}, {"model.head.bias": np.array(["x"] * 12)}, TypeError, "'head.bias' has dtype <U1"),
    (
        {},
        {"model.head.bias": np.zeros(5, np.float32)},
        ValueError,
        r"'model.head.bias' has shape \(5,\), the config",
    ),
    ({}, {"model.extra": np.zeros(2, np.float32)}, ValueError, "unexpected weight 'model.extra'"),
    (
        {},
        {"optimizer.state.0.step": np.float32(1.5)},
        TypeError,
        "'optimizer.state.0.step' has dtype float32",
    ),
    ({}, {"notes": np.array("hi")}, ValueError, "unexpected entry 'notes'"),
]


@pytest.mark.parametrize("header, arrays, error, message", HOSTILE, ids=[m[:30] for *_, m in HOSTILE])
def test_hostile_files_are_one_line_errors_naming_the_key(tmp_path, header, arrays, error, message):
    path = write_with(tmp_path, "bad.npz", header, arrays)
    with pytest.raises(error, match=message) as info:
        load_checkpoint(path).build_model()
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_missing_pieces_are_named(tmp_path):
    path = write_with(tmp_path, "bad.npz", drop=["model.head.bias"])
    with pytest.raises(ValueError, match="missing weight 'model.head.bias'"):
        TransformerLM.load(path)
    path = write_with(tmp_path, "bad2.npz", header={"training": {"step": 1}})
    with pytest.raises(ValueError, match="no 'training.config'"):
        load_checkpoint(path)


@pytest.mark.parametrize("key", ["step", "config", "rng", "history"])
def test_a_training_checkpoint_without_one_of_its_parts_names_it(tmp_path, key):
    state = dict(minigrad.load(write_with(tmp_path, "run.npz")))
    header = json.loads(str(state["checkpoint"]))
    del header["training"][key]
    state["checkpoint"] = np.array(json.dumps(header))
    minigrad.save(state, tmp_path / "bad.npz")
    with pytest.raises(ValueError, match=f"no 'training.{key}'"):
        load_checkpoint(tmp_path / "bad.npz")


HOSTILE_RUN = """
import json, resource, sys, time, numpy as np, minigrad
from transformer.train import load_checkpoint
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[2]), int(sys.argv[2])))
start = time.perf_counter()
try:
    load_checkpoint(sys.argv[1]).build_model()
except ValueError as error:
    print(json.dumps({"error": str(error), "seconds": time.perf_counter() - start}))
"""


@pytest.mark.parametrize(
    "header",
    [
        {"config.d_ff": 10**12},
        {"config.n_layers": 10**30},
        {"config.d_model": 2**16, "config.n_heads": 2, "config.d_ff": 2**20},
        {"data.length": 10**9},
    ],
)
def test_a_small_hostile_checkpoint_is_refused_quickly_and_with_little_memory(tmp_path, header):
    path = write_with(tmp_path, "hostile.npz", header)
    assert path.stat().st_size < 50_000
    # A cap on the address space: the imports need ~a few hundred MB of it; building the model
    # these configs describe would need gigabytes to terabytes.
    limit = 1_500_000_000
    done = subprocess.run(
        [sys.executable, "-c", HOSTILE_RUN, str(path), str(limit)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parent.parent,
    )
    assert done.returncode == 0, done.stderr[-500:]
    result = json.loads(done.stdout)
    assert "must lie in" in result["error"] or "refusing to build it" in result["error"]


# ----- the encoder-decoder uses the same format ------------------------------------------------
def small_seq2seq(**fields):
    from transformer.seq2seq import Seq2SeqTransformer
    from transformer.seq2seq_config import Seq2SeqConfig

    minigrad.manual_seed(0)
    config = {
        "src_vocab_size": 9,
        "tgt_vocab_size": 7,
        "max_len": 6,
        "d_model": 8,
        "n_heads": 2,
        "n_encoder_layers": 1,
        "n_decoder_layers": 1,
        **fields,
    }
    return Seq2SeqTransformer(Seq2SeqConfig(**config))


def test_seq2seq_files_share_the_format_and_the_checks(tmp_path):
    from transformer.seq2seq import Seq2SeqTransformer

    model = small_seq2seq(pos_encoding="learned")
    model.save(tmp_path / "s.npz")
    header = json.loads(str(minigrad.load(tmp_path / "s.npz")["checkpoint"]))
    assert header["model"] == "Seq2SeqTransformer" and header["config"] == model.config.to_dict()
    back = Seq2SeqTransformer.load(tmp_path / "s.npz")
    src, tgt = np.array([[3, 4, 5]]), np.array([[1, 3]])
    assert np.array_equal(back(src, tgt)[0].data, model(src, tgt)[0].data)
    with pytest.raises(ValueError, match="holds a Seq2SeqTransformer, not a TransformerLM"):
        TransformerLM.load(tmp_path / "s.npz")
    state = dict(minigrad.load(tmp_path / "s.npz"))
    h = json.loads(str(state["checkpoint"]))
    h["config"]["d_ff"] = 2**20
    h["config"]["d_model"] = 4096
    h["config"]["n_heads"] = 2
    state["checkpoint"] = np.array(json.dumps(h))
    minigrad.save(state, tmp_path / "huge.npz")
    with pytest.raises(ValueError, match="describes a model of up to .* refusing to build it"):
        Seq2SeqTransformer.load(tmp_path / "huge.npz")


def test_seq2seq_files_of_the_older_format_load(tmp_path):
    from transformer.seq2seq import Seq2SeqTransformer

    model = small_seq2seq()
    old = {**model.state_dict(), "__config__": np.array(json.dumps(model.config.to_dict()))}  # the old writer
    minigrad.save(old, tmp_path / "old.npz")
    back = Seq2SeqTransformer.load(tmp_path / "old.npz")
    assert back.config == model.config


def test_seq2seq_max_elements_bounds_the_real_model():
    for fields in (
        {},
        {"pos_encoding": "learned", "d_ff": 24},
        {"share_embeddings": True, "tgt_vocab_size": 9},
    ):
        model = small_seq2seq(**fields)
        c = model.config
        real = sum(p.data.size for p in model.parameters()) + 2 * c.max_len * c.d_model
        assert real <= c.max_elements() <= 4 * real


@pytest.mark.parametrize("temperature", [float("nan"), float("inf"), -1.0])
def test_generate_refuses_a_temperature_that_is_not_a_finite_number(temperature):
    with pytest.raises(ValueError, match="temperature must be a finite number >= 0"):
        small_model().generate(np.array([1, 2]), 3, temperature=temperature)
