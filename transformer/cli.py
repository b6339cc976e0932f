"""The console command `minigrad-transformer` (also `python -m transformer`).

    minigrad-transformer train                         # the main example: sort 8 digits
    minigrad-transformer train --task add --length 3 --steps 2000 --out runs/add.npz
    minigrad-transformer train --text examples/data/lighthouse.txt --out runs/text.npz
    minigrad-transformer eval runs/sort.npz
    minigrad-transformer sample runs/text.best.npz --prompt "The " --temperature 0.8
    minigrad-transformer faq q4                        # one of the five attention questions (docs/faq.md)
    minigrad-transformer render-graph runs/sort.npz --depth 3 -o runs/graph.svg
    minigrad-transformer render-attention runs/sort.npz --layer 1 --kind heatmap -o runs/attention.png
    minigrad-transformer sample gpt2-folder --prompt "Hello"   # a Hugging Face checkpoint folder

Each subcommand is two small functions, one adding its options to a parser and one running
it, registered in the COMMANDS table at the bottom of this file; a new subcommand is one more
entry there. The defaults are read from the library's own signatures and presets.

Every error a user can cause ends in one line on stderr and exit status 1 (`--debug` shows
the traceback instead); output paths are checked before any work starts; Ctrl-C during
`train` writes the checkpoint and prints the command that resumes it (status 130); a closed
pipe (`... | head`) ends quietly (status 141, as a process killed by SIGPIPE).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import math
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import minigrad
from minigrad.atomic import check_writable
from minigrad.threads import set_num_threads
from minigrad.viz import FORMATS, render

from .checkpoint import read as read_checkpoint
from .config import ACTIVATIONS, NORMS, POS_ENCODINGS, TransformerConfig
from .faq import DEFAULT_OUT as FAQ_OUT
from .faq import EXPERIMENTS
from .model import TransformerLM
from .seq2seq import Seq2SeqTransformer
from .seq2seq_config import BOS_ID, EOS_ID, Seq2SeqConfig
from .seq2seq_tasks import SEQ2SEQ_TASKS, NumbersTask
from .seq2seq_viz import draw_seq2seq_attention, draw_seq2seq_graph
from .tasks import (
    TASKS,
    CharDataset,
    Dataset,
    Task,
    Vocab,
    dataset_from_description,
    greedy_exact_match,
    make_task,
)
from .train import (
    MODEL_CLASSES,
    SEQ2SEQ_MODEL,
    SEQ2SEQ_TRAIN,
    TEXT_BLOCK_SIZE,
    TEXT_MODEL,
    TEXT_TRAIN,
    TrainConfig,
    TrainingInterrupted,
    evaluate,
    load_checkpoint,
    train,
)
from .viz import attention_explorer, draw_model_attention, draw_model_graph, graph_explorer

PROG = "minigrad-transformer"
FOLDER_SAMPLE_LENGTH = 50  # new tokens `sample` writes for a checkpoint folder by default
DEFAULT_THREADS = 1  # BLAS threads; one measured fastest for these sizes on a busy 2-core machine


class UsageError(ValueError):
    """A command line that cannot run (reported like argparse's own errors, status 1)."""


def _default(cls: type, name: str) -> Any:
    """A dataclass field's default, so the options' defaults are the library's."""
    return {f.name: f.default for f in dataclasses.fields(cls)}[name]


def _argument_default(function: Callable[..., Any], name: str) -> Any:
    """A function's default for one parameter (the same single source of truth)."""
    return inspect.signature(function).parameters[name].default


def _number(
    kind: type,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> Callable[[str], Any]:
    """An argparse type: a finite `kind` within the bounds, else a one-line usage error."""
    interval = (
        ("(" if low_open else "[")
        + ("-inf" if low is None else f"{low:g}")
        + ", "
        + ("inf" if high is None else f"{high:g}")
        + (")" if high_open or high is None else "]")
    )

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'} in {interval}, got {text!r}"
            ) from None
        inside = (
            math.isfinite(value)
            and (low is None or (value > low if low_open else value >= low))
            and (high is None or (value < high if high_open else value <= high))
        )
        if not inside:
            raise argparse.ArgumentTypeError(
                f"expected a finite {'integer' if kind is int else 'number'} in {interval}, got {text!r}"
            )
        return value

    return parse


POSITIVE, NON_NEGATIVE = _number(int, 1), _number(int, 0)


def _output(path: str, *inputs: str | None) -> str:
    """Check, before any work, that `path` can be written and is none of the `inputs`."""
    target = check_writable(path)
    for source in inputs:
        if source is not None and os.path.realpath(source) == target:
            raise UsageError(f"the output {path} is also an input ({source}); choose another output file")
    return path


def _describe(data: Dataset) -> str:
    if isinstance(data, Task):
        return f"{data.name} (length {data.length}, base {data.base}, {data.n_eval} held-out sequences)"
    if isinstance(data, NumbersTask):
        return (f"{data.name}: English number words to digits (up to {data.length} digits, {data.n_eval} "
                "held-out numbers)")
    return repr(data)


def _describe_model(model: TransformerLM | Seq2SeqTransformer) -> str:
    c = model.config
    n_params = sum(p.data.size for p in model.parameters())
    layers = (f"{c.n_encoder_layers} encoder + {c.n_decoder_layers} decoder layers"
              if isinstance(model, Seq2SeqTransformer) else f"{c.n_layers} layers")
    return f"{layers}, d_model {c.d_model}, {c.n_heads} heads, d_ff {c.ff_dim}, {n_params:,} parameters"


def _show_translations(model: Seq2SeqTransformer, task: NumbersTask, n: int) -> None:
    """Print the first n held-out sources with the model's greedy targets (cached decoding)."""
    (src, _), targets = task.eval_set()
    out = model.generate(src[:n], task.tgt_len, temperature=0.0)
    for words, written, target in zip(src[:n], out, targets[:n]):
        got, expected = task.tgt_vocab.decode(written), task.tgt_vocab.decode(target)
        mark = "right" if got == expected else f"wrong, expected {expected}"
        print(f"  {task.src_vocab.decode(words)} -> {got}   ({mark})")


def _vocab(description: dict[str, Any]) -> Vocab:
    """The vocabulary of a checkpoint's data (its `describe()`), rebuilt without the text file."""
    if description["kind"] == "text":
        return Vocab(description["vocab"])
    return dataset_from_description(description).vocab


def _show_examples(model: TransformerLM, task: Task, n: int) -> None:
    """Print the first n held-out prompts with the model's greedy answers."""
    ids, targets = task.eval_set()
    ids, targets = ids[:n], targets[:n]
    out = model.generate(ids[:, : task.prompt_len + 1], task.answer_len, temperature=0.0)
    for row, target in zip(out, targets):
        answer, expected = row[task.prompt_len + 1 :], target[task.prompt_len :]
        mark = "right" if (answer == expected).all() else f"wrong, expected {task.vocab.decode(expected)}"
        print(f"  {task.vocab.decode(row[: task.prompt_len + 1])} {task.vocab.decode(answer)}   ({mark})")


# ----- train ----------------------------------------------------------------------------------------
def add_train_arguments(p: argparse.ArgumentParser) -> None:
    data = p.add_argument_group("data (a synthetic task, or --text)")
    data.add_argument(
        "--task",
        choices=sorted(TASKS) + sorted(SEQ2SEQ_TASKS),
        default=None,
        help="synthetic task: the prompt's digits copied, reversed or sorted, or two numbers added; "
        "numbers: English number words to digits, trained on an encoder-decoder (default: sort)",
    )
    data.add_argument(
        "--length",
        type=POSITIVE,
        default=None,
        help=f"digits per prompt (per operand for add) (default: {_argument_default(make_task, 'length')})",
    )
    data.add_argument(
        "--base",
        type=_number(int, 2, 36),
        default=None,
        help=f"number of distinct digits, 2 to 36 (default: {_argument_default(make_task, 'base')}, "
        "digits 0-9)",
    )
    data.add_argument(
        "--eval-size",
        type=POSITIVE,
        default=None,
        help="held-out sequences (tasks) or validation windows at most (text) (default: "
        f"{_argument_default(make_task, 'n_eval')} for a task, "
        f"{_argument_default(CharDataset, 'n_eval')} for text)",
    )
    data.add_argument(
        "--text",
        metavar="FILE",
        help="train a character-level model on this UTF-8 text file instead of a task, with the "
        "text settings (below, and kept checkpoint of the best held-out loss)",
    )
    data.add_argument(
        "--block-size",
        type=POSITIVE,
        default=None,
        help=f"characters of context per training window, with --text (default: {TEXT_BLOCK_SIZE})",
    )
    data.add_argument(
        "--val-fraction",
        type=_number(float, 0, 1, low_open=True, high_open=True),
        default=None,
        help="the end of the text kept for validation, with --text (default: "
        f"{_argument_default(CharDataset, 'val_fraction')})",
    )

    model = p.add_argument_group(
        "model (defaults: TransformerConfig's for a task; for --text, the text preset)"
    )
    for name, help_text in (
        ("d_model", "width of the residual stream"),
        ("n_heads", "attention heads per block"),
        ("n_layers", "Transformer blocks"),
    ):
        model.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=POSITIVE,
            default=None,
            help=f"{help_text} (default: {_default(TransformerConfig, name)}; text: {TEXT_MODEL[name]})",
        )
    model.add_argument(
        "--d-ff",
        type=POSITIVE,
        default=None,
        help="hidden width of the feed-forward network (default: 4 * d_model)",
    )
    model.add_argument(
        "--dropout",
        type=_number(float, 0, 1, high_open=True),
        default=None,
        help=f"dropout probability (default: {_default(TransformerConfig, 'dropout')}; "
        f"text: {TEXT_MODEL['dropout']})",
    )
    model.add_argument(
        "--norm-first",
        action="store_true",
        default=None,
        help="pre-LN blocks with a final LayerNorm (default: post-LN, as in the original paper)",
    )
    model.add_argument(
        "--pos-encoding",
        choices=POS_ENCODINGS,
        default=None,
        help=f"positions: a learned table, fixed sinusoids, or rotary (rope) (default: "
        f"{_default(TransformerConfig, 'pos_encoding')})",
    )
    model.add_argument(
        "--rope-theta",
        type=_number(float, 1, low_open=True),
        default=None,
        help=f"base of the rotary angles, with --pos-encoding rope (default: "
        f"{_default(TransformerConfig, 'rope_theta')})",
    )
    model.add_argument(
        "--norm",
        choices=NORMS,
        default=None,
        help=f"the blocks' normalization (default: {_default(TransformerConfig, 'norm')})",
    )
    model.add_argument(
        "--activation",
        choices=ACTIVATIONS,
        default=None,
        help=f"the feed-forward's nonlinearity; swiglu is Llama's gated network (default: "
        f"{_default(TransformerConfig, 'activation')})",
    )
    model.add_argument(
        "--n-kv-heads",
        type=POSITIVE,
        default=None,
        help="key/value heads, for grouped-query attention; must divide --n-heads (default: one per head)",
    )
    model.add_argument(
        "--no-bias",
        dest="bias",
        action="store_const",
        const=False,
        default=None,
        help="no biases in the linear layers, as in Llama (default: biases)",
    )

    opt = p.add_argument_group("training (defaults: TrainConfig's for a task; for --text, the text preset)")
    for flag, name, kind, help_text in (
        ("--steps", "steps", POSITIVE, "optimizer steps; with --resume, extends the run to this many"),
        ("--batch-size", "batch_size", POSITIVE, "sequences per step"),
        ("--lr", "lr", _number(float, 0, 10, low_open=True), "peak learning rate, after warmup"),
        ("--warmup", "warmup_steps", NON_NEGATIVE, "steps of linear learning-rate warmup"),
        ("--weight-decay", "weight_decay", _number(float, 0, 10), "AdamW's decoupled weight decay"),
        (
            "--grad-clip",
            "grad_clip",
            _number(float, 0),
            "clip the global gradient norm to this; 0 turns clipping off",
        ),
        (
            "--eval-interval",
            "eval_interval",
            POSITIVE,
            "evaluate and write the checkpoint every this many steps",
        ),
        (
            "--seed",
            "seed",
            NON_NEGATIVE,
            "seed of the initial weights, the data and dropout: same seed, same run",
        ),
    ):
        opt.add_argument(
            flag,
            dest=name,
            type=kind,
            default=None,
            help=f"{help_text} (default: {_default(TrainConfig, name)}; text: {getattr(TEXT_TRAIN, name)})",
        )
    opt.add_argument(
        "--min-lr",
        type=_number(float, 0, 10),
        default=None,
        help="learning rate at the last step, the end of the cosine decay (default: lr / 10)",
    )

    out = p.add_argument_group("output")
    out.add_argument(
        "--out",
        metavar="CHECKPOINT",
        help="checkpoint file (.npz) to write (default: runs/<task>.npz, runs/<text file "
        "name>.npz, or the --resume file)",
    )
    out.add_argument(
        "--resume",
        metavar="CHECKPOINT",
        help="continue the run saved in this checkpoint exactly, with its own model, data and "
        "training settings; only --steps (to extend it), --text, --out and --quiet may be given",
    )
    out.add_argument("--quiet", action="store_true", help="print no progress, only the final summary")


_TASK_OPTIONS = ("task", "length", "base")
_TEXT_OPTIONS = ("block_size", "val_fraction")
_MODEL_OPTIONS = ("d_model", "n_heads", "n_layers", "d_ff", "dropout", "norm_first", "pos_encoding",
                  "rope_theta", "norm", "activation", "n_kv_heads", "bias")
_TRAIN_OPTIONS = (
    "batch_size",
    "lr",
    "min_lr",
    "warmup_steps",
    "weight_decay",
    "grad_clip",
    "eval_interval",
    "seed",
)


def _given(args: argparse.Namespace, names: Sequence[str]) -> list[str]:
    """The options of `names` given on the command line, spelled as flags."""
    return [
        "--" + n.replace("_", "-").replace("warmup-steps", "warmup")
        for n in names
        if getattr(args, n) is not None
    ]


def _chosen(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    return {n: getattr(args, n) for n in names if getattr(args, n) is not None}


def _new_run(args: argparse.Namespace) -> tuple[TransformerLM, Dataset, TrainConfig, str, str | None]:
    """(model, data, config, checkpoint path, best-checkpoint path or None) of a new run."""
    if args.text:
        if _given(args, _TASK_OPTIONS):
            raise UsageError(
                f"{', '.join(_given(args, _TASK_OPTIONS))} choose a task; they cannot go with --text"
            )
        data_options = {"block_size": TEXT_BLOCK_SIZE, **_chosen(args, _TEXT_OPTIONS)}
        if args.eval_size is not None:
            data_options["n_eval"] = args.eval_size
        data: Dataset = CharDataset.from_file(args.text, **data_options)
        out = args.out or f"runs/{Path(args.text).stem}.npz"
        model_preset, config = TEXT_MODEL, TEXT_TRAIN
    else:
        if _given(args, _TEXT_OPTIONS):
            raise UsageError(f"{', '.join(_given(args, _TEXT_OPTIONS))} go with --text only")
        task_options = _chosen(args, ("length", "base"))
        if args.eval_size is not None:
            task_options["n_eval"] = args.eval_size
        if args.task in SEQ2SEQ_TASKS:
            if args.base is not None:
                raise UsageError(f"--base is for the digit tasks; {args.task} has no base")
            data = SEQ2SEQ_TASKS[args.task](**task_options)
        else:
            data = make_task(args.task or "sort", **task_options)
        out = args.out or f"runs/{args.task or 'sort'}.npz"
        model_preset, config = {}, SEQ2SEQ_TRAIN if isinstance(data, NumbersTask) else TrainConfig()
    _output(out, args.text)
    best = str(Path(out).with_suffix(".best.npz")) if args.text else None
    if best is not None:
        _output(best, args.text)
    config = dataclasses.replace(config, **_chosen(args, ("steps", *_TRAIN_OPTIONS)))
    if args.lr is not None and args.min_lr is None:
        config.min_lr = config.lr / 10
    minigrad.manual_seed(config.seed)  # the initial weights
    if isinstance(data, NumbersTask):
        return _new_seq2seq_model(args, data), data, config, out, best
    model = TransformerLM(
        TransformerConfig(
            vocab_size=data.vocab.size,
            max_len=data.block_size,
            **{**model_preset, **_chosen(args, _MODEL_OPTIONS)},
        )
    )
    return model, data, config, out, best


def _new_seq2seq_model(args: argparse.Namespace, data: NumbersTask) -> Seq2SeqTransformer:
    """The encoder-decoder of SEQ2SEQ_MODEL with the model options given (--n-layers sets
    both stacks)."""
    options = _chosen(args, _MODEL_OPTIONS)
    if "n_layers" in options:
        layers = options.pop("n_layers")
        options.update(n_encoder_layers=layers, n_decoder_layers=layers)
    return Seq2SeqTransformer(Seq2SeqConfig(data.src_vocab.size, data.tgt_vocab.size, data.max_len,
                                            **{**SEQ2SEQ_MODEL, **options}))


def _resumed_run(
    args: argparse.Namespace,
) -> tuple[TransformerLM, Dataset, TrainConfig, str, str | None, int]:
    fixed = _given(args, (*_TASK_OPTIONS, *_TEXT_OPTIONS, *_MODEL_OPTIONS, *_TRAIN_OPTIONS, "eval_size"))
    if fixed:
        raise UsageError(
            f"--resume continues the saved run with its own settings; {', '.join(fixed)} cannot be "
            "changed (only --steps, --text, --out and --quiet)"
        )
    checkpoint = load_checkpoint(args.resume)
    data = dataset_from_description(checkpoint.data, args.text)
    config = checkpoint.train_config
    if args.steps is not None:
        if args.steps < checkpoint.step:
            raise UsageError(
                f"--steps {args.steps} is fewer than the {checkpoint.step} steps already trained"
            )
        config = dataclasses.replace(config, steps=args.steps)
    out = _output(args.out or args.resume, args.text)
    best = str(Path(out).with_suffix(".best.npz")) if checkpoint.data["kind"] == "text" else None
    model = MODEL_CLASSES[checkpoint.file.model](checkpoint.model_config)
    return model, data, config, out, best, checkpoint.step


def _resume_command(path: str, steps: int) -> str:
    return f"{PROG} train --resume {shlex.quote(path)}"


def run_train(args: argparse.Namespace) -> int:
    if args.resume:
        model, data, config, out, best, step = _resumed_run(args)
        if step >= config.steps:
            print(f"{args.resume} has finished its {config.steps} steps; give --steps N to train it further")
            return 0
        print(f"resuming {args.resume} at step {step} of {config.steps}")
    else:
        model, data, config, out, best = _new_run(args)
    print(f"data: {_describe(data)}")
    print(f"model: {_describe_model(model)}")
    schedule = "noam" if config.schedule == "noam" else f"-> {config.min_lr:g}"
    print(
        f"training: {config.steps} steps of {config.batch_size} sequences, "
        f"lr {config.lr:g} {schedule}, "
        f"warmup {config.warmup_steps}, seed {config.seed}",
        flush=True,
    )
    try:
        history = train(
            model,
            data,
            config,
            out=out,
            resume_from=args.resume,
            keep_best=best,
            log=None if args.quiet else sys.stderr,
        )
    except TrainingInterrupted as stop:
        print(f"\ninterrupted after step {stop.step} of {config.steps}; checkpoint: {out}", file=sys.stderr)
        print(f"resume with: {_resume_command(out, config.steps)}", file=sys.stderr)
        return 130
    score = "" if history.accuracy is None else f", held-out exact match {100 * history.accuracy:.1f}%"
    print(
        f"done: {len(history.losses)} steps in {history.seconds:.1f} s "
        f"({history.tokens_per_second / 1000:.1f}k tokens/s), held-out loss "
        f"{history.eval_losses[-1]:.4f}{score}"
    )
    if isinstance(data, Task):
        _show_examples(model, data, 3)
    if isinstance(data, NumbersTask):
        _show_translations(model, data, 3)
    print(f"checkpoint: {out}")
    if best is not None and os.path.exists(best):
        i = int(min(range(len(history.eval_losses)), key=history.eval_losses.__getitem__))
        print(
            f"best checkpoint (held-out loss {history.eval_losses[i]:.4f} "
            f"at step {history.eval_steps[i]}): {best}"
        )
    return 0


# ----- eval -------------------------------------------------------------------------------------------
def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="a checkpoint written by `train`, or a Hugging Face checkpoint folder "
                   "(a causal language model with its tokenizer)")
    p.add_argument(
        "--text",
        metavar="FILE",
        help="the text file, for a checkpoint trained on text (default: the file it records); for a "
        "checkpoint folder, the UTF-8 text to score through its tokenizer (required)",
    )
    p.add_argument(
        "--batch-size",
        type=POSITIVE,
        default=_argument_default(evaluate, "batch_size"),
        help="sequences per forward pass (default: %(default)s)",
    )
    p.add_argument(
        "--greedy",
        action="store_true",
        help="also score answers generated token by token (greedy decoding); it agrees with the "
        "teacher-forced exact match, only slower",
    )
    p.add_argument(
        "--examples", type=NON_NEGATIVE, default=5, help="held-out examples to print (default: %(default)s)"
    )


def _text_note(checkpoint: Any, data: Dataset) -> None:
    """Say so when an explicit --text differs from the text the checkpoint was trained on."""
    recorded = checkpoint.data.get("sha256")
    if isinstance(data, CharDataset) and recorded is not None and recorded != data.sha256:
        print(
            f"note: {data.path} is not the text this checkpoint was trained on ({checkpoint.data['path']})",
            file=sys.stderr,
        )


def run_eval_folder(args: argparse.Namespace) -> int:
    """eval on a checkpoint folder: the loss and perplexity of --text through its tokenizer."""
    from . import hf  # the optional extra "hf"

    if args.text is None:
        raise UsageError("give --text FILE: the text whose loss and perplexity the model is scored on")
    try:
        with open(args.text, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read --text {args.text}: {e}") from None
    model, tokenizer = _folder_model(args.checkpoint)
    ids = np.asarray(tokenizer.encode(text), dtype=np.int64)
    if len(ids) < 2:
        raise UsageError(f"{args.text} has {len(ids)} token(s); scoring needs at least 2")
    loss, count = hf.text_loss(model, ids, args.batch_size)
    print(f"{args.checkpoint}: {count} predicted tokens of {args.text} (windows of {model.config.max_len})")
    print(f"loss {loss:.4f}, perplexity {math.exp(min(loss, 700.0)):.2f}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    if _is_folder(args.checkpoint):
        return run_eval_folder(args)
    checkpoint = load_checkpoint(args.checkpoint)
    data = dataset_from_description(checkpoint.data, args.text)
    _text_note(checkpoint, data)
    model = checkpoint.build_model()
    loss, accuracy = evaluate(model, data, args.batch_size)
    print(f"{args.checkpoint}: step {checkpoint.step}, data {_describe(data)}")
    print(f"held-out loss {loss:.4f}" + ("" if accuracy is None else f", exact match {100 * accuracy:.2f}%"))
    if isinstance(data, Task):
        if args.greedy:
            greedy = greedy_exact_match(model, *data.eval_set()).mean()
            print(f"greedy decoding exact match {100 * greedy:.2f}%")
        _show_examples(model, data, args.examples)
    if isinstance(data, NumbersTask):
        if args.greedy:
            (src, _), targets = data.eval_set()
            written = model.generate(src, data.tgt_len, temperature=0.0)
            right = [data.tgt_vocab.decode(w) == data.tgt_vocab.decode(t) for w, t in zip(written, targets)]
            print(f"greedy decoding exact match {100 * np.mean(right):.2f}%")
        _show_translations(model, data, args.examples)
    return 0


# ----- Hugging Face checkpoint folders ------------------------------------------------------------------
def _is_folder(path: str) -> bool:
    """A Hugging Face checkpoint folder (config.json + safetensors) rather than a minigrad file."""
    return os.path.isdir(path)


def _folder_model(path: str, *, needs_tokenizer: bool = True) -> tuple[TransformerLM, Any]:
    """The TransformerLM of a checkpoint folder and its tokenizer (None when not needed)."""
    from . import hf  # the optional extra "hf"

    model = hf.load_pretrained(path)
    if not isinstance(model, TransformerLM):
        raise UsageError(f"{path} holds a {type(model).__name__}; this command needs a causal language "
                         "model (model_type gpt2, llama, mistral or qwen2)")
    return model, hf.load_tokenizer(path) if needs_tokenizer else None


def run_sample_folder(args: argparse.Namespace) -> int:
    """sample on a checkpoint folder: the prompt through its tokenizer, greedy or sampled."""
    model, tokenizer = _folder_model(args.checkpoint)
    if not args.prompt:
        raise UsageError("give a --prompt: the text the model continues")
    ids = np.asarray(tokenizer.encode(args.prompt), dtype=np.int64)
    if ids.size == 0:
        raise UsageError(f"the prompt {args.prompt!r} has no tokens")
    length = FOLDER_SAMPLE_LENGTH if args.length is None else args.length
    out = model.generate(ids, length, temperature=args.temperature, top_k=args.top_k,
                         rng=np.random.default_rng(args.seed))
    print(tokenizer.decode(out.tolist()))
    return 0


# ----- sample ------------------------------------------------------------------------------------------
def add_sample_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "checkpoint",
        help="a checkpoint written by `train` (text, or a task), a TransformerLM.save file "
        "that records its data, or a Hugging Face checkpoint folder (GPT-2 or Llama-family) with "
        "its tokenizer",
    )
    p.add_argument(
        "--prompt",
        default=None,
        help="text to continue; every character must be in the model's vocabulary (default: a newline "
        "for text; for a task, the first held-out prompt)",
    )
    p.add_argument(
        "--length",
        type=NON_NEGATIVE,
        default=None,
        help="new tokens (characters) to generate (default: 300 for text; for a task, exactly its answer; "
        f"{FOLDER_SAMPLE_LENGTH} for a checkpoint folder)",
    )
    p.add_argument(
        "--temperature",
        type=_number(float, 0),
        default=_argument_default(TransformerLM.generate, "temperature"),
        help="divide the logits by this: below 1 is more conservative, 0 is greedy (default: %(default)s)",
    )
    p.add_argument(
        "--top-k",
        type=POSITIVE,
        default=_argument_default(TransformerLM.generate, "top_k"),
        help="sample only among the k most likely tokens (default: all)",
    )
    p.add_argument("--seed", type=NON_NEGATIVE, default=0, help="seed of the sampling (default: %(default)s)")


def run_sample(args: argparse.Namespace) -> int:
    if _is_folder(args.checkpoint):
        return run_sample_folder(args)
    file = read_checkpoint(args.checkpoint)
    if file.data is None:
        raise UsageError(
            f"{args.checkpoint} records no data, so its vocabulary is unknown; save it with "
            "TransformerLM.save(path, data=dataset.describe())"
        )
    if file.model == "Seq2SeqTransformer":
        return _sample_seq2seq(args, file)
    vocab = _vocab(file.data)
    task = dataset_from_description(file.data) if file.data["kind"] == "task" else None
    prompt = args.prompt
    if task is not None:  # complete exactly the answer
        prompt = prompt if prompt is not None else vocab.decode(task.eval_set()[0][0, : task.prompt_len])
        prompt = prompt if prompt.endswith("=") else prompt + "="
        vocab.encode(prompt)  # unknown characters first
        if len(prompt) != task.prompt_len + 1 or "=" in prompt[:-1]:
            raise UsageError(f"a {task.name} prompt has {task.prompt_len} symbols then '=', got {prompt!r}")
        if args.length not in (None, task.answer_len):
            raise UsageError(f"a {task.name} answer has {task.answer_len} tokens; leave out --length")
    elif prompt is None:
        if "\n" not in vocab.symbols:
            raise UsageError(f"give a --prompt made of the characters {vocab.symbols!r}")
        prompt = "\n"
    if not prompt:
        raise UsageError("the prompt must hold at least one character")
    length = task.answer_len if task is not None else (300 if args.length is None else args.length)
    model = TransformerLM.from_checkpoint(file)
    if len(prompt) > model.config.max_len:
        print(f"note: the prompt has {len(prompt)} characters but the model's context holds "
              f"max_len = {model.config.max_len}; it sees only the last {model.config.max_len}",
              file=sys.stderr)
    out = model.generate(
        vocab.encode(prompt),
        length,
        temperature=args.temperature,
        top_k=args.top_k,
        rng=np.random.default_rng(args.seed),
    )
    print(vocab.decode(out))
    return 0


def _source_words(text: str | None, task: NumbersTask, option: str) -> str:
    """The source words to translate: `text`, or the first held-out source; checked against the
    vocabulary and max_len."""
    if text is None:
        text = task.src_vocab.decode(task.eval_set()[0][0][0])
    words = task.src_vocab.encode(text)  # an unknown word is a one-line error naming it
    if not 1 <= len(words) <= task.max_len:
        raise UsageError(f"{option} must hold 1 to {task.max_len} words (max_len), got {len(words)}")
    return text


def _sample_seq2seq(args: argparse.Namespace, file: Any) -> int:
    """Write the target of one source (--prompt: the words) with an encoder-decoder."""
    task = dataset_from_description(file.data)
    words = _source_words(args.prompt, task, "--prompt")
    model = Seq2SeqTransformer.from_checkpoint(file)
    length = task.tgt_len if args.length is None else args.length
    written = model.generate(task.src_vocab.encode(words), length, temperature=args.temperature,
                             top_k=args.top_k, rng=np.random.default_rng(args.seed))
    print(f"{words} -> {task.tgt_vocab.decode(written)}")
    return 0


# ----- faq: the tutorial's five attention questions (docs/architecture.md), answered by experiment ----
def add_faq_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "question",
        nargs="+",
        choices=sorted(EXPERIMENTS) + ["all"],
        metavar="QUESTION",
        help="which question to answer: q1 multi-head, q2 shared Q/K, q3 additive scores, q4 "
        "scaling by sqrt(d_k), q5 reduced head size; several may be given, or all",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a seconds-long smoke run (what the tests run); its numbers are too short to quote",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        default=str(FAQ_OUT),
        help="directory for the SVG figures (default: %(default)s; the documented figures are in "
        "docs/images/faq)",
    )
    p.add_argument(
        "--seed", type=NON_NEGATIVE, default=0, help="seed of weights and data (default: %(default)s)"
    )


def run_faq(args: argparse.Namespace) -> int:
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"--out {args.out} is a file; give a directory for the figures")
    check_writable(os.path.join(args.out, "figure.svg"))
    names = sorted(EXPERIMENTS) if "all" in args.question else list(dict.fromkeys(args.question))
    for name in names:
        print(
            f"{name}: running{' (quick)' if args.quick else ''}; figures go to {args.out}",
            file=sys.stderr,
            flush=True,
        )
        EXPERIMENTS[name](quick=args.quick, out_dir=Path(args.out), seed=args.seed)
        print()
    return 0


# ----- render-graph and render-attention: pictures written with Graphviz (transformer/viz.py) -------
PICTURE_FORMATS = (*FORMATS, "html")


def _add_picture_arguments(p: argparse.ArgumentParser, stem: str) -> None:
    p.add_argument(
        "--format",
        choices=PICTURE_FORMATS,
        default=None,
        help="file format; dot writes the Graphviz source text and needs no Graphviz program; "
        "html writes an interactive explorer, one self-contained file that works offline "
        "(default: the --out file's suffix, else svg)",
    )
    p.add_argument(
        "-o",
        "--out",
        metavar="FILE",
        default=None,
        help=f"file to write (default: runs/{stem}.svg, or runs/{stem}.FORMAT with --format)",
    )


def _picture_path(args: argparse.Namespace, stem: str) -> tuple[str, str]:
    """(path, format) of the picture, checked before any work: writable, not the checkpoint.
    The format is --format, else the suffix; a suffix that names no format is refused unless
    --format says what to write, and one that contradicts --format is refused."""
    path = args.out or f"runs/{stem}.{args.format or 'svg'}"
    _output(path, getattr(args, "checkpoint", None))
    suffix = Path(path).suffix[1:].lower()
    if suffix and suffix not in PICTURE_FORMATS and args.format is None:
        raise UsageError(
            f"-o {path}: .{suffix} is not a format this command writes ({', '.join(PICTURE_FORMATS)}); "
            "give --format to write it anyway"
        )
    if args.format and suffix in PICTURE_FORMATS and suffix != args.format:
        raise UsageError(f"-o {path} has the suffix .{suffix}, but --format is {args.format}")
    fmt = args.format or suffix or "svg"
    if not suffix:
        path = f"{path}.{fmt}"
    return _output(path, getattr(args, "checkpoint", None)), fmt


def _write_explorer(explorer: Any, path: str) -> int:
    """Save an HTML explorer to `path` and print the path written."""
    print(f"wrote {explorer.save(path)}")
    return 0


def _write_picture(graph: Any, path: str, fmt: str) -> int:
    """Render `graph` to `path` in the format `fmt` and print the path written."""
    print(f"wrote {render(graph, path, fmt)}")
    return 0


MODEL_DEPTH = -1  # --depth not given: the model's own default (1, or 4 for an encoder-decoder)


def _depth(text: str) -> int | None:
    """--depth: a positive number of name parts, or 0 / full for every op (no collapsing)."""
    if text in ("0", "full"):
        return None
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a number >= 0 or 'full', got {text!r}")
    return int(text)


def add_render_graph_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "checkpoint",
        nargs="?",
        default=None,
        help="a checkpoint written by `train`, a file written by TransformerLM.save, or a Hugging "
        "Face checkpoint folder (GPT-2 or Llama-family)",
    )
    p.add_argument(
        "--untrained",
        action="store_true",
        help="instead of a checkpoint, draw the untrained model `train` starts from with no "
        "options (sort 8 digits)",
    )
    p.add_argument(
        "--depth",
        type=_depth,
        default=MODEL_DEPTH,
        help="how deep modules open: 1 draws the model's children as boxes (embeddings, the list of "
        "blocks, head), 2 each block as one box, 3 each block's parts (attention, feed-forward, "
        "norms), ...; 0 or full draws every op (default: 1; for an encoder-decoder 4, a box per "
        "encoder and decoder block)",
    )
    p.add_argument(
        "--grads",
        action="store_true",
        help="run backward first and colour each parameter by the norm of its gradient, and each "
        "module drawn as a box by the norm of all its parameters' gradients (at every depth)",
    )
    p.add_argument(
        "--rankdir",
        choices=("TB", "LR", "BT", "RL"),
        default="TB",
        help="direction the graph flows: top to bottom, left to right, ... (default: %(default)s)",
    )
    _add_picture_arguments(p, "graph")


def run_render_graph(args: argparse.Namespace) -> int:
    """The graph of the model's loss on one short sequence (see `draw_model_graph`)."""
    if (args.checkpoint is None) == (not args.untrained):
        raise UsageError("give either a CHECKPOINT or --untrained, not both or neither")
    path, fmt = _picture_path(args, "graph")
    if args.untrained:
        minigrad.manual_seed(_default(TrainConfig, "seed"))  # train's defaults, so the same model
        task = make_task("sort")
        model = TransformerLM(TransformerConfig(vocab_size=task.vocab.size, max_len=task.block_size))
    elif _is_folder(args.checkpoint):
        model = _folder_model(args.checkpoint, needs_tokenizer=False)[0]
    else:
        file = read_checkpoint(args.checkpoint)
        model = MODEL_CLASSES[file.model].from_checkpoint(file)
    if isinstance(model, Seq2SeqTransformer):
        if fmt == "html":
            raise UsageError("the html graph explorer draws language models; write svg, png, pdf or dot")
        depth = 4 if args.depth == MODEL_DEPTH else args.depth
        graph = draw_seq2seq_graph(model, depth=depth, show_grads=args.grads, rankdir=args.rankdir)
        return _write_picture(graph, path, fmt)
    args.depth = 1 if args.depth == MODEL_DEPTH else args.depth
    if fmt == "html":  # pan, zoom, tooltips; a click opens a module
        explorer = graph_explorer(model, depth=args.depth, show_grads=args.grads, rankdir=args.rankdir)
        return _write_explorer(explorer, path)
    graph = draw_model_graph(model, depth=args.depth, show_grads=args.grads, rankdir=args.rankdir)
    return _write_picture(graph, path, fmt)


def add_render_attention_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="a checkpoint written by `train` (its vocabulary encodes --input), "
                   "or a Hugging Face checkpoint folder (GPT-2 or Llama-family; its tokenizer encodes "
                   "--input)")
    p.add_argument("--input", default=None,
                   help="text the model reads, one token per character; a task's bare prompt is completed "
                        "with '=' and the model's greedy answer (default, for a task: the first held-out "
                        "prompt, so completed)")
    p.add_argument("--layer", type=int, default=None,
                   help="layer to draw, from 0; negative counts from the end "
                        "(default: all layers, a row each; with html: the layer the explorer opens at)")
    p.add_argument("--head", type=int, default=None,
                   help="head to draw, from 0 (default: all heads, a column each; with html: the head "
                        "of the matrix view)")
    p.add_argument("--kind", choices=("graph", "heatmap"), default="graph",
                   help="graph: queries and keys as two columns joined by edges as thick as the weight; "
                        "heatmap: the weight matrix as a shaded table; with html, the view the explorer "
                        "opens in (default: %(default)s)")
    p.add_argument("--threshold", type=_threshold, default=0.05,
                   help="with --kind graph, draw no edge for a weight at or below this "
                        "(default: %(default)s)")
    _add_picture_arguments(p, "attention")


def _threshold(text: str) -> float:
    """--threshold: attention weights lie in [0, 1], so a threshold of 1 or more would draw no
    edge at all; refused here rather than drawing an empty picture."""
    return _number(float, 0, 1, high_open=True)(text)


def _attention_input(text: str | None, model: TransformerLM, vocab: Vocab, task: Task | None) -> str:
    """The characters to run the model on: --input, or the first held-out prompt; a task's bare
    prompt (with or without its '=') goes on with the model's greedy answer, as far as max_len
    allows (the answer's last digit is never an input: the model only predicts it)."""
    if text is None:
        if task is None:
            raise ValueError(
                f"this checkpoint was trained on text; give an --input made of {vocab.symbols!r}"
            )
        text = vocab.decode(task.eval_set()[0][0, : task.prompt_len])
    if not text:
        raise ValueError("--input must hold at least one character")
    digits = text.removesuffix("=")
    if task is not None and len(digits) == task.prompt_len and "=" not in digits:
        prompt = vocab.encode(text.removesuffix("=") + "=")
        text = vocab.decode(model.generate(prompt, task.answer_len - 1, temperature=0.0))
    if len(text) > model.config.max_len:
        raise UsageError(
            f"--input has {len(text)} characters, but the model's context holds at most "
            f"max_len = {model.config.max_len}; give a shorter --input"
        )
    return text


def _index(value: int, count: int, option: str, what: str) -> int:
    if not -count <= value < count:
        raise ValueError(f"{option} {value} is out of range for a model with {count} {what}")
    return value % count


def _folder_attention_input(args: argparse.Namespace) -> tuple[TransformerLM, np.ndarray, list[str]]:
    """A checkpoint folder's model, the ids of --input through its tokenizer, and each token's text."""
    model, tokenizer = _folder_model(args.checkpoint)
    if not args.input:
        raise UsageError("give an --input: the text the model reads")
    ids = np.asarray(tokenizer.encode(args.input), dtype=np.int64)
    if not 0 < ids.size <= model.config.max_len:
        raise UsageError(f"--input has {ids.size} tokens; the model reads 1 to max_len = "
                         f"{model.config.max_len}")
    return model, ids, [tokenizer.decode([i]) for i in ids.tolist()]


def run_render_attention(args: argparse.Namespace) -> int:
    path, fmt = _picture_path(args, "attention")
    if _is_folder(args.checkpoint):
        model, ids, tokens = _folder_attention_input(args)
        print(f"input: {args.input} ({len(tokens)} tokens)")
        if fmt == "html":
            return _write_explorer(attention_explorer(model, ids, tokens), path)
        return _write_picture(draw_model_attention(model, ids, tokens, layer=args.layer, head=args.head,
                                                   threshold=args.threshold, kind=args.kind), path, fmt)
    file = read_checkpoint(args.checkpoint)
    if file.data is None:
        raise UsageError(f"{args.checkpoint} records no data, so its vocabulary is unknown")
    if file.model == "Seq2SeqTransformer":
        return _render_seq2seq_attention(args, file, path, fmt)
    model, vocab = TransformerLM.from_checkpoint(file), _vocab(file.data)
    task = dataset_from_description(file.data) if file.data["kind"] == "task" else None
    text = _attention_input(args.input, model, vocab, task)
    print(f"input: {text}")
    if fmt == "html":  # every layer and head; the options say how it opens
        explorer = attention_explorer(model, vocab.encode(text), list(text))
        explorer.start.update(view="matrix" if args.kind == "heatmap" else "head",
                              threshold=min(args.threshold, 1.0))
        layers, heads = len(explorer.kinds[0].layers), explorer.kinds[0].layers[0][1].shape[0]
        if args.layer is not None:
            explorer.start["layer"] = _index(args.layer, layers, "--layer", "layers")
        if args.head is not None:
            explorer.start["head"] = _index(args.head, heads, "--head", "heads")
        return _write_explorer(explorer, path)
    graph = draw_model_attention(model, vocab.encode(text), list(text), layer=args.layer, head=args.head,
                                 threshold=args.threshold, kind=args.kind)
    return _write_picture(graph, path, fmt)


def _render_seq2seq_attention(args: argparse.Namespace, file: Any, path: str, fmt: str) -> int:
    """Encoder, decoder and cross-attention of an encoder-decoder on the source words of
    --input (default: the first held-out source), the target being the model's greedy answer."""
    task = dataset_from_description(file.data)
    model = Seq2SeqTransformer.from_checkpoint(file)
    words = _source_words(args.input, task, "--input")
    src = task.src_vocab.encode(words)
    written = model.generate(src, task.max_len, temperature=0.0)
    print(f"input: {words} -> {task.tgt_vocab.decode(written)}")
    if fmt == "html":
        end = int(np.argmax(written == EOS_ID)) if (written == EOS_ID).any() else task.max_len - 1
        tgt = np.concatenate([[BOS_ID], written[:end]])
        labels = (task.src_vocab.labels(src), task.tgt_vocab.labels(tgt))
        explorer = attention_explorer(model, (src, tgt), labels)
        explorer.start.update(view="matrix" if args.kind == "heatmap" else "head",
                              threshold=min(args.threshold, 1.0))
        return _write_explorer(explorer, path)
    graph = draw_seq2seq_attention(model, src, src_tokens=task.src_vocab.tokens,
                                   tgt_tokens=task.tgt_vocab.tokens, layer=args.layer, head=args.head,
                                   threshold=args.threshold, kind=args.kind)
    return _write_picture(graph, path, fmt)


# ----- the table of subcommands -----------------------------------------------------------------------
@dataclass(frozen=True)
class Command:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {
    "train": Command(
        "train a model on a synthetic task or a text file (no options: the main example, sort 8 digits)",
        add_train_arguments,
        run_train,
    ),
    "eval": Command("score a checkpoint on its held-out set", add_eval_arguments, run_eval),
    "sample": Command("generate text from a checkpoint", add_sample_arguments, run_sample),
    "faq": Command("answer five questions about attention (several heads, separate Q and K, dot products, "
                   "the sqrt(d_k) scale, small heads) by experiment: tables and SVG figures",
                   add_faq_arguments, run_faq),
    "render-graph": Command("draw the computation graph of a checkpoint's model (or an untrained one) at a "
                            "chosen module depth, to svg, png, pdf or dot, or as an interactive html "
                            "explorer whose modules open", add_render_graph_arguments,
                            run_render_graph),
    "render-attention": Command("draw a checkpoint's attention on an input, as edges or heatmaps, to svg, "
                                "png, pdf or dot, or as an interactive html explorer of every layer and head",
                                add_render_attention_arguments, run_render_attention),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Train, evaluate, sample and draw the minigrad Transformer, and run the "
        "attention experiments.",
        epilog=f"`{PROG} COMMAND --help` explains each command's options.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--threads",
        type=POSITIVE,
        default=DEFAULT_THREADS,
        help="threads of numpy's BLAS (default: %(default)s, measured fastest for these small "
        "matrices on a busy 2-core machine)",
    )
    common.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        command.add_arguments(
            sub.add_parser(name, help=command.help, description=command.help, parents=[common])
        )
    return parser


def _quiet_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null so the interpreter's final flush cannot
    fail again with a second traceback."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); returns the exit status."""
    args = build_parser().parse_args(argv)
    minigrad.tune_allocator()  # a command is a whole program: let it reuse freed large arrays
    try:
        set_num_threads(args.threads)
        return COMMANDS[args.command].run(args)
    except BrokenPipeError:
        if args.debug:
            raise
        _quiet_stdout()
        return 141
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, IndexError, OSError, RuntimeError, MemoryError) as error:
        if args.debug:
            raise
        message = " ".join(str(error).split()) or type(error).__name__  # one line, always
        if isinstance(error, OSError) and error.filename and str(error.filename) not in message:
            message = f"{error.filename}: {message}"
        print(f"{PROG} {args.command}: error: {message}", file=sys.stderr)
        return 1
