"""A character-level model of a text file, then samples from it.

    python examples/train_text.py [FILE]     # default: examples/data/lighthouse.txt

The same run as `minigrad-transformer train --text FILE --out runs/text.npz` followed by
`minigrad-transformer sample runs/text.best.npz --prompt "The keeper" --temperature 0.8
--top-k 10`: both use the text settings of `transformer.train` (TEXT_MODEL, TEXT_TRAIN,
TEXT_BLOCK_SIZE). A few KB of text is enough to learn its words and spelling in about a
minute; expect dream-like sentences, not sense. The checkpoint with the lowest held-out loss is
kept beside the last one (runs/text.best.npz), since on a text this small longer training
would eventually memorise it.
"""
import sys
from pathlib import Path

import numpy as np

import minigrad
from transformer import TransformerConfig, TransformerLM
from transformer.tasks import CharDataset
from transformer.train import TEXT_BLOCK_SIZE, TEXT_MODEL, TEXT_TRAIN, train

minigrad.tune_allocator()  # let numpy reuse freed large arrays (glibc); see minigrad/allocator.py
minigrad.set_num_threads(1)  # small matrices: one BLAS thread is the fastest on a busy machine (measured)
path = sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "data" / "lighthouse.txt"
data = CharDataset.from_file(path, block_size=TEXT_BLOCK_SIZE)
config = TEXT_TRAIN

minigrad.manual_seed(config.seed)
model = TransformerLM(TransformerConfig(vocab_size=data.vocab.size, max_len=data.block_size, **TEXT_MODEL))
history = train(model, data, config, out="runs/text.npz", keep_best="runs/text.best.npz")
best = min(history.eval_losses)
print(f"held-out loss {history.eval_losses[-1]:.3f} after {len(history.losses)} steps (best {best:.3f}), "
      f"{history.seconds:.0f} s; checkpoints runs/text.npz and runs/text.best.npz")

best_model = TransformerLM.load("runs/text.best.npz")
prompt = data.vocab.encode("The keeper")
sample = best_model.generate(prompt, 400, temperature=0.8, top_k=10, rng=np.random.default_rng(0))
print(data.vocab.decode(sample))
