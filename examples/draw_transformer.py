"""Draw a whole TransformerLM's loss at depth 1 and at depth 2.

    python examples/draw_transformer.py [OUT_DIR]
        # writes OUT_DIR/transformer_depth1.svg and OUT_DIR/transformer_depth2.svg (docs/images)

At depth 1 each child of the model (tok_emb, pos_emb, blocks, head) is one box with its
parameter count and its input and output shapes; at depth 2 the `blocks` ModuleList opens
into one box per TransformerBlock. The full graph of this model has hundreds of ops.
"""
import sys
from pathlib import Path

import minigrad
from minigrad.viz import render
from transformer import TransformerConfig, TransformerLM
from transformer.viz import draw_model_graph

minigrad.tune_allocator()  # let numpy reuse freed large arrays (glibc); see minigrad/allocator.py

out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/images")
minigrad.manual_seed(0)
model = TransformerLM(TransformerConfig(vocab_size=12, max_len=16, d_model=64, n_heads=4, n_layers=2))
for depth in (1, 2):
    print(render(draw_model_graph(model, depth=depth), out_dir / f"transformer_depth{depth}.svg"))
