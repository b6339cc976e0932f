"""Regenerate every picture in docs/images/ by running the drawing examples.

    python examples/make_images.py            # from the repository root; needs Graphviz's dot

Each example runs in its own process (as a reader would run it), so the seeds of one cannot
change the pictures of another. The trained-attention example trains two small models and
takes the longest (a minute or two). The explorer screenshots (explore_reverse.py) need a
`chromium` on PATH and are left as they are without one. The tutorial's ladder pictures come
from `python examples/ladder.py --figures docs/images` (a few minutes: it trains 21 models).
"""
import os
import subprocess
import sys
import time
from pathlib import Path

EXAMPLES = ["draw_backprop.py", "draw_mlp_graph.py", "draw_attention_block.py", "draw_transformer.py",
            "draw_trained_attention.py", "explore_reverse.py"]

here = Path(__file__).resolve().parent
out_dir = here.parent / "docs" / "images"
# The examples import minigrad and transformer: from an installed package, or from this checkout.
env = dict(os.environ,
           PYTHONPATH=os.pathsep.join(filter(None, [str(here.parent), os.environ.get("PYTHONPATH")])))
for name in EXAMPLES:
    start = time.perf_counter()
    print(f"== {name}", flush=True)
    subprocess.run([sys.executable, str(here / name), str(out_dir)], check=True, env=env)
    print(f"   {time.perf_counter() - start:.0f} s", flush=True)
