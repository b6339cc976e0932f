"""The console command `minigrad-transformer` (also `python -m transformer`).

    minigrad-transformer train                         # the main example: sort 8 digits
    minigrad-transformer train --task add --length 3 --steps 2000 --out runs/add.npz
    minigrad-transformer train --text examples/data/lighthouse.txt --out runs/text.npz
    minigrad-transformer eval runs/sort.npz
    minigrad-transformer sample runs/text.npz --prompt "The " --temperature 0.8
    minigrad-transformer faq q4                        # one of the five attention questions (docs/faq.md)
    minigrad-transformer render-graph runs/sort.npz --depth 2 -o runs/graph.svg
    minigrad-transformer render-attention runs/sort.npz --layer 1 --kind heatmap -o runs/attention.png

Each subcommand is two small functions, one adding its options to a parser and one running
it, registered in the COMMANDS table at the bottom of this file; a new subcommand is one more
entry there.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import minigrad
from minigrad.viz import FORMATS, render

from .config import TransformerConfig
from .faq import DEFAULT_OUT as FAQ_OUT
from .faq import EXPERIMENTS
from .model import TransformerLM
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
from .train import TrainConfig, evaluate, load_checkpoint, train
from .viz import attention_explorer, draw_model_attention, draw_model_graph, graph_explorer, load_model

PROG = "minigrad-transformer"


def _default(cls: type, name: str) -> Any:
    """A dataclass field's default, so the options' defaults are the library's."""
    return {f.name: f.default for f in dataclasses.fields(cls)}[name]


def _describe(data: Dataset) -> str:
    if isinstance(data, Task):
        return f"{data.name} (length {data.length}, base {data.base}, {data.n_eval} held-out sequences)"
    return repr(data)


def _vocab(description: dict[str, Any]) -> Vocab:
    """The vocabulary of a checkpoint's data (its `describe()`), rebuilt without the text file."""
    if description["kind"] == "text":
        return Vocab(description["vocab"])
    return make_task(description["task"], description["length"], description["base"],
                     description["n_eval"]).vocab


def _show_examples(model: TransformerLM, task: Task, n: int) -> None:
    """Print the first n held-out prompts with the model's greedy answers."""
    ids, targets = task.eval_set()
    ids, targets = ids[:n], targets[:n]
    out = model.generate(ids[:, : task.prompt_len + 1], task.answer_len, temperature=0.0)
    for row, target in zip(out, targets):
        answer, expected = row[task.prompt_len + 1:], target[task.prompt_len:]
        mark = "right" if (answer == expected).all() else f"wrong, expected {task.vocab.decode(expected)}"
        print(f"  {task.vocab.decode(row[: task.prompt_len + 1])} {task.vocab.decode(answer)}   ({mark})")


# ----- train ----------------------------------------------------------------------------------------
def add_train_arguments(p: argparse.ArgumentParser) -> None:
    data = p.add_argument_group("data (a synthetic task, or --text)")
    data.add_argument("--task", choices=sorted(TASKS), default="sort",
                      help="synthetic task: the prompt's digits copied, reversed or sorted, or two numbers "
                           "added (default: %(default)s)")
    data.add_argument("--length", type=int, default=8,
                      help="digits per prompt (per operand for add) (default: %(default)s)")
    data.add_argument("--base", type=int, default=10,
                      help="number of distinct digits, 2 to 36 (default: %(default)s, digits 0-9)")
    data.add_argument("--eval-size", type=int, default=1000,
                      help="held-out sequences (tasks) or validation windows at most (text) (default: "
                           "%(default)s)")
    data.add_argument("--text", metavar="FILE",
                      help="train a character-level model on this UTF-8 text file instead of a task "
                           "(with --resume: the text file of the resumed run)")
    data.add_argument("--block-size", type=int, default=32,
                      help="characters of context per training window, with --text (default: %(default)s)")
    data.add_argument("--val-fraction", type=float, default=0.1,
                      help="the end of the text kept for validation, with --text (default: %(default)s)")

    model = p.add_argument_group("model")
    for name, help_text in (("d_model", "width of the residual stream"),
                            ("n_heads", "attention heads per block"),
                            ("n_layers", "Transformer blocks")):
        model.add_argument("--" + name.replace("_", "-"), type=int, default=_default(TransformerConfig, name),
                           help=f"{help_text} (default: %(default)s)")
    model.add_argument("--d-ff", type=int, default=None,
                       help="hidden width of the feed-forward network (default: 4 * d_model)")
    model.add_argument("--dropout", type=float, default=_default(TransformerConfig, "dropout"),
                       help="dropout probability (default: %(default)s)")
    model.add_argument("--norm-first", action="store_true",
                       help="pre-LN blocks with a final LayerNorm (default: post-LN, as in the original "
                            "paper)")
    model.add_argument("--pos-encoding", choices=("learned", "sinusoidal"),
                       default=_default(TransformerConfig, "pos_encoding"),
                       help="position embedding: a learned table or fixed sinusoids (default: %(default)s)")

    opt = p.add_argument_group("training")
    for flag, name, kind, help_text in (
        ("--steps", "steps", int, "optimizer steps"),
        ("--batch-size", "batch_size", int, "sequences per step"),
        ("--lr", "lr", float, "peak learning rate, after warmup"),
        ("--warmup", "warmup_steps", int, "steps of linear learning-rate warmup"),
        ("--weight-decay", "weight_decay", float, "AdamW's decoupled weight decay"),
        ("--grad-clip", "grad_clip", float, "clip the global gradient norm to this; 0 turns clipping off"),
        ("--eval-interval", "eval_interval", int, "evaluate and write the checkpoint every this many steps"),
        ("--seed", "seed", int, "seed of the initial weights, the data and dropout: same seed, same run"),
    ):
        opt.add_argument(flag, dest=name, type=kind, default=_default(TrainConfig, name),
                         help=f"{help_text} (default: %(default)s)")
    opt.add_argument("--min-lr", type=float, default=None,
                     help="learning rate at the last step, the end of the cosine decay (default: lr / 10)")

    out = p.add_argument_group("output")
    out.add_argument("--out", metavar="CHECKPOINT",
                     help="checkpoint file (.npz) to write (default: runs/<task>.npz, runs/<text file "
                          "name>.npz, or the --resume file)")
    out.add_argument("--resume", metavar="CHECKPOINT",
                     help="continue the run saved in this checkpoint exactly, with its own model, data and "
                          "training settings (the options above are then ignored, except --text)")
    out.add_argument("--quiet", action="store_true", help="print no progress, only the final summary")


def _new_run(args: argparse.Namespace) -> tuple[TransformerLM, Dataset, TrainConfig, str]:
    if args.text:
        data: Dataset = CharDataset.from_file(args.text, block_size=args.block_size,
                                              val_fraction=args.val_fraction, n_eval=args.eval_size)
        out = args.out or f"runs/{Path(args.text).stem}.npz"
    else:
        data = make_task(args.task, length=args.length, base=args.base, n_eval=args.eval_size)
        out = args.out or f"runs/{args.task}.npz"
    config = TrainConfig(
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, min_lr=args.min_lr,
        warmup_steps=args.warmup_steps, weight_decay=args.weight_decay, grad_clip=args.grad_clip,
        eval_interval=args.eval_interval, seed=args.seed,
    )
    minigrad.manual_seed(args.seed)  # the initial weights
    model = TransformerLM(TransformerConfig(
        vocab_size=data.vocab.size, max_len=data.block_size, d_model=args.d_model, n_heads=args.n_heads,
        n_layers=args.n_layers, d_ff=args.d_ff, dropout=args.dropout, norm_first=args.norm_first,
        pos_encoding=args.pos_encoding,
    ))
    return model, data, config, out


def run_train(args: argparse.Namespace) -> int:
    if args.resume:
        checkpoint = load_checkpoint(args.resume)
        data = dataset_from_description(checkpoint.data, args.text)
        model, config = TransformerLM(checkpoint.model_config), checkpoint.train_config
        out = args.out or args.resume
        print(f"resuming {args.resume} at step {checkpoint.step} of {config.steps}")
    else:
        model, data, config, out = _new_run(args)
    c = model.config
    n_params = sum(p.data.size for p in model.parameters())
    print(f"data: {_describe(data)}")
    print(f"model: {c.n_layers} layers, d_model {c.d_model}, {c.n_heads} heads, d_ff {c.ff_dim}, "
          f"{n_params:,} parameters")
    print(f"training: {config.steps} steps of {config.batch_size} sequences, lr {config.lr:g} -> "
          f"{config.min_lr:g}, warmup {config.warmup_steps}, seed {config.seed}")
    history = train(model, data, config, out=out, resume_from=args.resume,
                    log=None if args.quiet else sys.stderr)
    score = "" if history.accuracy is None else f", held-out exact match {100 * history.accuracy:.1f}%"
    print(f"done: {len(history.losses)} steps in {history.seconds:.1f} s "
          f"({history.tokens_per_second / 1000:.1f}k tokens/s), held-out loss "
          f"{history.eval_losses[-1]:.4f}{score}")
    if isinstance(data, Task):
        _show_examples(model, data, 3)
    print(f"checkpoint: {out}")
    return 0


# ----- eval -------------------------------------------------------------------------------------------
def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="a checkpoint written by `train`")
    p.add_argument("--text", metavar="FILE", help="the text file, for a checkpoint trained on text")
    p.add_argument("--batch-size", type=int, default=500,
                   help="sequences per forward pass (default: %(default)s)")
    p.add_argument("--greedy", action="store_true",
                   help="also score answers generated token by token (greedy decoding); it agrees with the "
                        "teacher-forced exact match, only slower")
    p.add_argument("--examples", type=int, default=5,
                   help="held-out examples to print (default: %(default)s)")


def run_eval(args: argparse.Namespace) -> int:
    checkpoint = load_checkpoint(args.checkpoint)
    data = dataset_from_description(checkpoint.data, args.text)
    model = checkpoint.build_model()
    loss, accuracy = evaluate(model, data, args.batch_size)
    print(f"{args.checkpoint}: step {checkpoint.step}, data {_describe(data)}")
    print(f"held-out loss {loss:.4f}" + ("" if accuracy is None else f", exact match {100 * accuracy:.2f}%"))
    if isinstance(data, Task):
        if args.greedy:
            greedy = greedy_exact_match(model, *data.eval_set()).mean()
            print(f"greedy decoding exact match {100 * greedy:.2f}%")
        _show_examples(model, data, args.examples)
    return 0


# ----- sample ------------------------------------------------------------------------------------------
def add_sample_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="a checkpoint written by `train` (text, or a task)")
    p.add_argument("--prompt", default=None,
                   help="text to continue; every character must be in the model's vocabulary "
                        "(default: a newline, for text)")
    p.add_argument("--length", type=int, default=300,
                   help="new tokens (characters) to generate (default: %(default)s)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="divide the logits by this: below 1 is more conservative, 0 is greedy (default: "
                        "%(default)s)")
    p.add_argument("--top-k", type=int, default=None,
                   help="sample only among the k most likely tokens (default: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling (default: %(default)s)")


def run_sample(args: argparse.Namespace) -> int:
    checkpoint = load_checkpoint(args.checkpoint)
    vocab = _vocab(checkpoint.data)
    prompt = args.prompt
    if prompt is None:
        if "\n" not in vocab.symbols:
            raise ValueError(f"sample: give a --prompt made of the characters {vocab.symbols!r}")
        prompt = "\n"
    if not prompt:
        raise ValueError("sample: the prompt must hold at least one character")
    model = checkpoint.build_model()
    out = model.generate(vocab.encode(prompt), args.length, temperature=args.temperature, top_k=args.top_k,
                         rng=np.random.default_rng(args.seed))
    print(vocab.decode(out))
    return 0


# ----- faq: the seed notes' five attention questions, answered by experiment (transformer/faq) ---------
def add_faq_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("question", nargs="+", choices=sorted(EXPERIMENTS) + ["all"], metavar="QUESTION",
                   help="which question to answer: q1 multi-head, q2 shared Q/K, q3 additive scores, q4 "
                        "scaling by sqrt(d_k), q5 reduced head size; several may be given, or all")
    p.add_argument("--quick", action="store_true",
                   help="a seconds-long smoke run (what the tests run); its numbers are too short to quote")
    p.add_argument("--out", metavar="DIR", default=str(FAQ_OUT),
                   help="directory for the SVG figures (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights and data (default: %(default)s)")


def run_faq(args: argparse.Namespace) -> int:
    names = sorted(EXPERIMENTS) if "all" in args.question else list(dict.fromkeys(args.question))
    for name in names:
        EXPERIMENTS[name](quick=args.quick, out_dir=Path(args.out), seed=args.seed)
        print()
    return 0


# ----- render-graph and render-attention: pictures written with Graphviz (transformer/viz.py) -------
PICTURE_FORMATS = (*FORMATS, "html")


def _add_picture_arguments(p: argparse.ArgumentParser, stem: str) -> None:
    p.add_argument("--format", choices=PICTURE_FORMATS, default=None,
                   help="file format; dot writes the Graphviz source text and needs no Graphviz program; "
                        "html writes an interactive explorer, one self-contained file that works offline "
                        "(default: the --out file's suffix, else svg)")
    p.add_argument("-o", "--out", metavar="FILE", default=None,
                   help=f"file to write (default: runs/{stem}.svg, or runs/{stem}.FORMAT with --format)")


def _picture_format(args: argparse.Namespace) -> str:
    """--format, else the --out file's suffix when it names a format, else svg."""
    suffix = Path(args.out).suffix[1:] if args.out else ""
    if args.format and suffix in PICTURE_FORMATS and suffix != args.format:
        raise ValueError(f"--out {args.out} has the suffix .{suffix}, but --format is {args.format}")
    return args.format or (suffix if suffix in PICTURE_FORMATS else "svg")


def _write_explorer(explorer: Any, args: argparse.Namespace, stem: str) -> int:
    """Save an HTML explorer where --out says, and print the path written."""
    print(f"wrote {explorer.save(args.out or f'runs/{stem}.html')}")
    return 0


def _write_picture(graph: Any, args: argparse.Namespace, stem: str) -> int:
    """Render `graph` where --out and --format say, and print the path written. A missing or
    failing Graphviz program is reported as a one-line error (exit status 1)."""
    fmt = _picture_format(args)
    try:
        path = render(graph, args.out or f"runs/{stem}.{fmt}", fmt)
    except RuntimeError as error:  # GraphvizNotFoundError (no `dot` on PATH), or Graphviz failed
        print(f"{PROG} {args.command}: error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


def _depth(text: str) -> int | None:
    """--depth: a positive number of name parts, or 0 / full for every op (no collapsing)."""
    if text in ("0", "full"):
        return None
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a number >= 0 or 'full', got {text!r}")
    return int(text)


def add_render_graph_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", nargs="?", default=None,
                   help="a checkpoint written by `train`, or a file written by TransformerLM.save")
    p.add_argument("--untrained", action="store_true",
                   help="instead of a checkpoint, draw the untrained model `train` starts from with no "
                        "options (sort 8 digits)")
    p.add_argument("--depth", type=_depth, default=1,
                   help="module depth drawn as boxes: 1 the model's children (embeddings, blocks, head), 2 "
                        "each block's parts, ...; 0 or full draws every op (default: %(default)s)")
    p.add_argument("--grads", action="store_true",
                   help="run backward first and colour each parameter by the norm of its gradient")
    p.add_argument("--rankdir", choices=("TB", "LR", "BT", "RL"), default="TB",
                   help="direction the graph flows: top to bottom, left to right, ... (default: %(default)s)")
    _add_picture_arguments(p, "graph")


def run_render_graph(args: argparse.Namespace) -> int:
    """The graph of the model's loss on one short sequence (see `draw_model_graph`)."""
    if (args.checkpoint is None) == (not args.untrained):
        raise ValueError("give either a CHECKPOINT or --untrained, not both or neither")
    if args.untrained:
        model, *_ = _new_run(build_parser().parse_args(["train"]))  # train's defaults, so the same model
    else:
        model = load_model(args.checkpoint)
    if _picture_format(args) == "html":  # pan, zoom, tooltips; a click opens a module
        try:
            explorer = graph_explorer(model, depth=args.depth, show_grads=args.grads, rankdir=args.rankdir)
        except RuntimeError as error:  # GraphvizNotFoundError (no `dot` on PATH), or Graphviz failed
            print(f"{PROG} {args.command}: error: {error}", file=sys.stderr)
            return 1
        return _write_explorer(explorer, args, "graph")
    graph = draw_model_graph(model, depth=args.depth, show_grads=args.grads, rankdir=args.rankdir)
    return _write_picture(graph, args, "graph")


def add_render_attention_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="a checkpoint written by `train` (its vocabulary encodes --input)")
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
    """--threshold: a weight >= 0 (checked here, as the grid of all heads does not check it)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _attention_input(text: str | None, model: TransformerLM, vocab: Vocab, task: Task | None) -> str:
    """The characters to run the model on: --input, or the first held-out prompt; a task's bare
    prompt (with or without its '=') goes on with the model's greedy answer, as far as max_len
    allows (the answer's last digit is never an input: the model only predicts it)."""
    if text is None:
        if task is None:
            raise ValueError("this checkpoint was trained on text; "
                             f"give an --input made of {vocab.symbols!r}")
        text = vocab.decode(task.eval_set()[0][0, : task.prompt_len])
    if not text:
        raise ValueError("--input must hold at least one character")
    digits = text.removesuffix("=")
    if task is not None and len(digits) == task.prompt_len and "=" not in digits:
        prompt = vocab.encode(text.removesuffix("=") + "=")
        text = vocab.decode(model.generate(prompt, task.answer_len - 1, temperature=0.0))
    if len(text) > model.config.max_len:
        raise ValueError(f"--input has {len(text)} characters, more than the model's max_len "
                         f"{model.config.max_len}")
    return text


def _index(value: int, count: int, option: str, what: str) -> int:
    if not -count <= value < count:
        raise ValueError(f"{option} {value} is out of range for a model with {count} {what}")
    return value % count


def run_render_attention(args: argparse.Namespace) -> int:
    checkpoint = load_checkpoint(args.checkpoint)
    model, vocab = checkpoint.build_model(), _vocab(checkpoint.data)
    task = dataset_from_description(checkpoint.data) if checkpoint.data["kind"] == "task" else None
    text = _attention_input(args.input, model, vocab, task)
    print(f"input: {text}")
    if _picture_format(args) == "html":  # every layer and head; the options say how it opens
        explorer = attention_explorer(model, vocab.encode(text), list(text))
        explorer.start.update(view="matrix" if args.kind == "heatmap" else "head",
                              threshold=min(args.threshold, 1.0))
        layers, heads = len(explorer.kinds[0].layers), explorer.kinds[0].layers[0][1].shape[0]
        if args.layer is not None:
            explorer.start["layer"] = _index(args.layer, layers, "--layer", "layers")
        if args.head is not None:
            explorer.start["head"] = _index(args.head, heads, "--head", "heads")
        return _write_explorer(explorer, args, "attention")
    graph = draw_model_attention(model, vocab.encode(text), list(text), layer=args.layer, head=args.head,
                                 threshold=args.threshold, kind=args.kind)
    return _write_picture(graph, args, "attention")


# ----- the table of subcommands -----------------------------------------------------------------------
@dataclass(frozen=True)
class Command:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {
    "train": Command("train a model on a synthetic task or a text file (no options: the main example, "
                     "sort 8 digits)", add_train_arguments, run_train),
    "eval": Command("score a checkpoint on its held-out set", add_eval_arguments, run_eval),
    "sample": Command("generate text from a checkpoint", add_sample_arguments, run_sample),
    "faq": Command("answer the seed notes' five attention questions by experiment (tables and SVG figures)",
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
        prog=PROG, description="Train, evaluate, sample and draw the minigrad Transformer, and run the "
                               "attention experiments.",
        epilog=f"`{PROG} COMMAND --help` explains each command's options.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        command.add_arguments(sub.add_parser(name, help=command.help, description=command.help))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); returns the exit status."""
    args = build_parser().parse_args(argv)
    minigrad.tune_allocator()  # a command is a whole program: let it reuse freed large arrays
    try:
        return COMMANDS[args.command].run(args)
    except (ValueError, IndexError, TypeError, FileNotFoundError) as error:  # bad input: one line
        print(f"{PROG} {args.command}: error: {error}", file=sys.stderr)
        return 1
