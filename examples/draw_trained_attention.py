"""Draw the attention of small Transformers trained on `sort` and on `reverse`.

    python examples/draw_trained_attention.py [OUT_DIR] [--runs DIR]
        # writes OUT_DIR/attention_{sort,reverse}.svg and attention_{sort,reverse}_heatmap.svg

Each model reads 8 digits, "=", then writes the answer one digit at a time. By default a model
with d_model=32, 2 heads and 2 layers is trained here for each task (sort: 500 steps, about 60
CPU-seconds, 98% held-out exact match; reverse: 200 steps, about 25 s, 100%), so the pictures
are the same on every machine; with --runs DIR, the checkpoints DIR/sort.npz and
DIR/reverse.npz written by `train` are drawn instead.

The prompt has 8 distinct digits, so where each answer digit comes from is unambiguous: in
`reverse` the first layer looks from the answer's i-th digit back to prompt position 7 - i
(an anti-diagonal); in `sort` a head of the second layer looks from "=" and from each answer
digit mostly to the next larger digit of the prompt, the one to write next.
"""
import argparse
import time
from pathlib import Path

import numpy as np

import minigrad
from minigrad.viz import render
from transformer import TransformerConfig, TransformerLM
from transformer.tasks import make_task
from transformer.train import TrainConfig, train
from transformer.viz import draw_model_attention

minigrad.tune_allocator()  # let numpy reuse freed large arrays (glibc); see minigrad/allocator.py

minigrad.set_num_threads(1)  # small matrices: one BLAS thread is fastest on a busy machine (measured)
STEPS = {"sort": 500, "reverse": 200}  # enough for ~98% (sort) and 100% (reverse) exact match
PROMPT = [5, 2, 7, 1, 8, 3, 6, 4]


def trained_model(name: str, runs: Path | None) -> TransformerLM:
    if runs is not None:
        print(f"{name}: drawing {runs / f'{name}.npz'}")
        return TransformerLM.load(runs / f"{name}.npz")
    task = make_task(name, length=8, base=10, n_eval=500)
    minigrad.manual_seed(0)
    model = TransformerLM(TransformerConfig(vocab_size=task.vocab.size, max_len=task.block_size,
                                            d_model=32, n_heads=2, n_layers=2))
    start = time.perf_counter()
    history = train(model, task, TrainConfig(steps=STEPS[name], warmup_steps=50, eval_interval=STEPS[name]),
                    log=None)
    print(f"{name}: trained {STEPS[name]} steps in {time.perf_counter() - start:.0f} s, "
          f"held-out exact match {100 * history.accuracy:.1f}%")
    return model


parser = argparse.ArgumentParser(description="Draw the attention of models trained on sort and reverse.")
parser.add_argument("out_dir", nargs="?", default="docs/images", type=Path, help="where the svg files go")
parser.add_argument("--runs", type=Path, help="draw DIR/sort.npz and DIR/reverse.npz instead of training")
args = parser.parse_args()
out_dir = args.out_dir
for name in ("sort", "reverse"):
    model = trained_model(name, args.runs)
    task = make_task(name, length=8, base=10)
    ids, _ = task.frame(np.array([PROMPT]))  # (1, 16): the prompt, "=", the answer but its last digit
    tokens = list(task.vocab.decode(ids))
    print(render(draw_model_attention(model, ids, tokens, threshold=0.1), out_dir / f"attention_{name}.svg"))
    print(render(draw_model_attention(model, ids, tokens, kind="heatmap"),
                 out_dir / f"attention_{name}_heatmap.svg"))
