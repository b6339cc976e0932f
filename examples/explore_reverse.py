"""Write the attention and graph explorers of a small Transformer trained to reverse, and
screenshots of them taken with a headless Chromium.

    python examples/explore_reverse.py [OUT_DIR]
        # writes OUT_DIR/explorer_{head,hover,model,detail,graph}.png (default: docs/images),
        # and the pages themselves to runs/reverse_attention.html and runs/reverse_graph.html

The model (d_model=32, 2 heads, 2 layers) learns to reverse 8 digits in 200 steps, about 25
CPU-seconds, as in draw_trained_attention.py; it reads the prompt 52718364= and its answer.
The screenshots need `chromium` (or Chrome) on PATH and are skipped without it; each is the
page opened at an address that picks the view (the pages read `#view=...` at start).
"""

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import minigrad
from transformer import TransformerConfig, TransformerLM
from transformer.tasks import make_task
from transformer.train import TrainConfig, train
from transformer.viz import attention_explorer, graph_explorer

minigrad.tune_allocator()  # let numpy reuse freed large arrays (glibc); see minigrad/allocator.py
minigrad.set_num_threads(1)  # small matrices: one BLAS thread is the fastest on a busy machine (measured)

PROMPT = [5, 2, 7, 1, 8, 3, 6, 4]
# (file name, page, address fragment, window size): what each screenshot shows
SHOTS = [
    ("explorer_head.png", "attention", "view=head&layer=0", (1100, 620)),
    ("explorer_hover.png", "attention", "view=head&layer=0&focus=query,11", (1100, 620)),
    ("explorer_model.png", "attention", "view=model", (1100, 420)),
    ("explorer_detail.png", "attention", "view=model&open=0,1", (1100, 720)),
    ("explorer_graph.png", "graph", "page=blocks.0", (1100, 760)),
]


def trained_model() -> tuple[TransformerLM, np.ndarray, list[str]]:
    task = make_task("reverse", length=8, base=10, n_eval=500)
    minigrad.manual_seed(0)
    model = TransformerLM(
        TransformerConfig(
            vocab_size=task.vocab.size, max_len=task.block_size, d_model=32, n_heads=2, n_layers=2
        )
    )
    start = time.perf_counter()
    history = train(model, task, TrainConfig(steps=200, warmup_steps=50, eval_interval=200), log=None)
    print(
        f"reverse: trained 200 steps in {time.perf_counter() - start:.0f} s, "
        f"held-out exact match {100 * history.accuracy:.1f}%"
    )
    prompt = task.vocab.encode("".join(map(str, PROMPT)) + "=")
    ids = model.generate(prompt, task.answer_len - 1, temperature=0.0)  # the last digit is never read
    return model, ids, list(task.vocab.decode(ids))


def screenshot(browser: str, page: Path, fragment: str, size: tuple[int, int], out: Path) -> None:
    """One headless Chromium run: load the page (no network), let its script draw, save a PNG."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={size[0]},{size[1]}",
                "--virtual-time-budget=3000",
                f"--screenshot={out}",
                f"{page.resolve().as_uri()}#{fragment}",
            ],
            check=True,
            capture_output=True,
        )
    print(f"wrote {out}")


def main() -> None:
    out_dir = (
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "docs" / "images"
    )
    model, ids, tokens = trained_model()
    pages = {
        "attention": attention_explorer(model, ids, tokens).save("runs/reverse_attention.html"),
        "graph": graph_explorer(model, ids, depth=1, levels=3).save("runs/reverse_graph.html"),
    }
    for path in pages.values():
        print(f"wrote {path}")
    browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    if browser is None:
        print("no chromium on PATH: no screenshots")
        return
    for name, page, fragment, size in SHOTS:
        screenshot(browser, pages[page], fragment, size, out_dir / name)


if __name__ == "__main__":
    main()
