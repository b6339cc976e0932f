"""What each part of the Transformer block buys, measured: the ladder of the tutorial.

    python examples/ladder.py                  # 7 rungs x 3 seeds on examples/data/lighthouse.txt
    python examples/ladder.py --quick          # seconds: checks that it runs, the numbers mean nothing
    python examples/ladder.py --figures docs/images   # also draws the trained models' attention

Seven character-level models of the same text, each with one part more than the one before:
bigram, average of the past, one attention head, several heads, feed-forward, residual,
LayerNorm (`transformer.ladder`). Each trains with the same recipe, batches and seeds, and the
table gives its held-out loss, mean and standard deviation over the seeds. It prints a line
per rung as it goes, then the table in Markdown. With --figures DIR it writes the attention of
the first seed's "one head" model (both layers) and of the full model's first layer on a
held-out phrase, as heatmaps: DIR/ladder_one_head.svg and DIR/ladder_attention.svg. The first
seed's models do not depend on how many seeds run, so `--seeds 1 --figures DIR` draws the
same pictures in a third of the time.
"""
import argparse
from pathlib import Path

import minigrad
from minigrad.viz import render
from transformer.ladder import DEFAULT_TEXT, LadderSettings, run_ladder
from transformer.tasks import CharDataset
from transformer.viz import draw_model_attention

PHRASE = "expect the wind to rise"  # from the held-out part of the bundled text

parser = argparse.ArgumentParser(description="Train the ladder's seven rungs; print their held-out loss.")
parser.add_argument("--quick", action="store_true", help="a few steps and one seed: a test of the code")
parser.add_argument("--seeds", type=int, help="how many seeds per rung (default: 3; 1 with --quick)")
parser.add_argument("--text", type=Path, default=DEFAULT_TEXT, help="the text to model")
parser.add_argument("--figures", type=Path, help="a folder for the attention pictures")
parser.add_argument("--threads", type=int, default=1, help="BLAS threads (1 is fastest on a busy machine)")
args = parser.parse_args()

minigrad.tune_allocator()  # let numpy reuse freed large arrays (glibc); see minigrad/allocator.py
minigrad.set_num_threads(args.threads)
settings = LadderSettings.quick_run() if args.quick else LadderSettings()
if args.seeds:
    settings = settings.with_seeds(args.seeds)
result = run_ladder(settings, args.text, log=lambda line: print(line, flush=True))
print()
print(result.table())

if args.figures:
    vocab = CharDataset.from_file(args.text, block_size=settings.block_size).vocab
    ids = vocab.encode(PHRASE)
    # the one-head model's two layers, and the first layer of the full model's four heads
    for rung, layer, name in ((result.rungs[2], None, "ladder_one_head.svg"),
                              (result.rungs[-1], 0, "ladder_attention.svg")):
        picture = draw_model_attention(rung.model, ids, tokens=list(PHRASE), layer=layer, kind="heatmap")
        print("wrote", render(picture, args.figures / name))
