"""Draw one multi-head attention at full depth, then a whole Transformer block.

    python examples/draw_attention_block.py [OUT_DIR]
        # writes OUT_DIR/attention_block.svg and OUT_DIR/transformer_block.svg (docs/images)

attention_block.svg follows x through q_proj, k_proj and v_proj, the reshape and transpose
that split the heads (B, T, h*d_k) -> (B, h, T, d_k), the fused scaled dot-product attention
softmax(q k^T / sqrt(d_k) + mask) v with the causal mask as its input, the merge of the heads
and out_proj. transformer_block.svg adds the residual connections, the two LayerNorms and
the feed-forward network, coloured by the gradients of a loss.
"""
import sys
from pathlib import Path

import minigrad
from minigrad.viz import draw_graph, render
from transformer import MultiHeadAttention, TransformerBlock

minigrad.tune_allocator()  # let numpy reuse freed large arrays (glibc); see minigrad/allocator.py

out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/images")
minigrad.manual_seed(0)
x = minigrad.randn(1, 4, 16)                   # one sequence of 4 tokens, d_model = 16

attention = MultiHeadAttention(d_model=16, n_heads=2)
y = attention(x, causal=True)
print(render(draw_graph(y, attention), out_dir / "attention_block.svg"))

block = TransformerBlock(d_model=16, n_heads=2, d_ff=64)
loss = (block(x, causal=True) ** 2).mean()
loss.backward()
print(render(draw_graph(loss, block, show_grads=True), out_dir / "transformer_block.svg"))
