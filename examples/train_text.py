"""A character-level model of a text file, then samples from it.

    python examples/train_text.py [FILE]     # default: examples/data/lighthouse.txt

The same as `minigrad-transformer train --text FILE --out runs/text.npz` followed by
`minigrad-transformer sample runs/text.npz`. A few KB of text is enough to learn its words and
spelling in under a minute; expect dream-like sentences, not sense. On a text this small the
validation loss stops improving after a few hundred steps: longer training only memorizes.
"""
import sys
from pathlib import Path

import numpy as np

import minigrad
from transformer import TransformerConfig, TransformerLM
from transformer.tasks import CharDataset
from transformer.train import TrainConfig, train

minigrad.tune_allocator()  # let numpy reuse freed large arrays (glibc); see minigrad/allocator.py

path = sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "data" / "lighthouse.txt"
data = CharDataset.from_file(path, block_size=32)
config = TrainConfig(steps=800, batch_size=32, lr=3e-3, warmup_steps=50, eval_interval=100, seed=0)

minigrad.manual_seed(config.seed)
model = TransformerLM(TransformerConfig(vocab_size=data.vocab.size, max_len=data.block_size,
                                        d_model=64, n_heads=4, n_layers=2, dropout=0.1))
history = train(model, data, config, out="runs/text.npz")
print(f"validation loss {history.eval_losses[-1]:.3f} after {len(history.losses)} steps, "
      f"{history.seconds:.0f} s")

prompt = data.vocab.encode("The keeper")
sample = model.generate(prompt, 400, temperature=0.8, top_k=10, rng=np.random.default_rng(0))
print(data.vocab.decode(sample))
