"""The main example: a small Transformer learns to sort 8 digits (0-9).

    python examples/train_sort.py          # the same run as `minigrad-transformer train`

It trains the default TransformerConfig with the default TrainConfig, prints its progress,
reaches at least 99% exact match on 1000 held-out sequences, and saves runs/sort.npz, which
`minigrad-transformer eval runs/sort.npz` scores again.
"""
import minigrad
from transformer import TransformerConfig, TransformerLM
from transformer.tasks import make_task
from transformer.train import TrainConfig, train

# This model's matrices are small: a second BLAS thread adds nothing, and on a busy 2-core
# machine two OpenBLAS threads stall each other (measured: 4 min instead of 30 s). The same
# choice as the command line's default `--threads 1`.
minigrad.set_num_threads(1)

minigrad.tune_allocator()  # let numpy reuse freed large arrays (glibc); see minigrad/allocator.py

task = make_task("sort", length=8, base=10)  # prompts like 31415926=, answers like 11234569
config = TrainConfig(seed=0)

minigrad.manual_seed(config.seed)  # the initial weights
model = TransformerLM(TransformerConfig(vocab_size=task.vocab.size, max_len=task.block_size))
history = train(model, task, config, out="runs/sort.npz")

print(f"held-out exact match {100 * history.accuracy:.1f}% after {len(history.losses)} steps, "
      f"{history.seconds:.0f} s; checkpoint runs/sort.npz")
ids, _ = task.eval_set()
prompts = ids[:5, : task.prompt_len + 1]  # digits and "="
for row in model.generate(prompts, task.answer_len, temperature=0.0):  # greedy answers
    print(" ", task.vocab.decode(row))
