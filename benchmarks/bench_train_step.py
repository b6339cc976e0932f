"""One training step (forward, backward, AdamW step) of a post-LN causal TransformerLM, side by
side in minigrad and PyTorch eager: ms/step, GFLOP/s, the ratio and peak memory.

    python benchmarks/bench_train_step.py                    # all sizes, 5 alternating pairs
    python benchmarks/bench_train_step.py --malloc both      # minigrad with and without mallopt
    python benchmarks/bench_train_step.py --breakdown small  # where minigrad's step spends time

Every (side, size) runs in a fresh child process that imports only its framework, so each
one's peak memory is its own (`ru_maxrss` of the child) and neither one's allocator settings or
thread pools affect the other. Each child reports the median of its steps; the children
alternate, minigrad then PyTorch, for `--pairs` pairs per size, and the ratio minigrad / PyTorch
is taken within each pair (benchmarks/_common.py). PyTorch's model is built from torch.nn
pieces with the same shapes and parameter count: token and position `Embedding`s,
`TransformerEncoderLayer(batch_first=True, activation="gelu", norm_first=False, dropout=0)` with
a causal mask, and a `Linear` head; `torch.optim.AdamW`.

FLOPs count the matrix products only, exactly: per layer forward 2*N*(4*d^2 + 2*d*d_ff) for the
projections and the feed-forward network plus 4*B*T^2*d for the scores and the weighted sum
(the full T x T square: neither framework skips masked entries), plus 2*N*d*V for the head, with
N = B*T tokens; a training step is 3x the forward (backward needs the gradient of both operands
of every product).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import numpy as np
from _common import (
    Ratios,
    add_side_by_side_options,
    alternate,
    header,
    load_average,
    maxrss_mb,
    median_of,
    run_worker,
    setup_minigrad,
    setup_torch,
    table,
    torch_available,
)

# name: (vocab, d_model, heads, layers, T, batch): the sizes the speed targets name
SIZES = {
    "tiny": (16, 32, 4, 2, 16, 32),
    "small": (64, 128, 4, 2, 64, 32),
    "medium": (256, 256, 8, 4, 128, 16),
}


def step_flops(vocab: int, d: int, heads: int, layers: int, T: int, B: int) -> int:
    """Matmul FLOPs of one training step (see the module docstring)."""
    n, d_ff = B * T, 4 * d
    per_layer = 2 * n * (4 * d * d + 2 * d * d_ff) + 4 * B * T * T * d
    return 3 * (layers * per_layer + 2 * n * d * vocab)


def _batch(vocab: int, T: int, B: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    ids = rng.integers(0, vocab, size=(B, T + 1))
    return ids[:, :-1], ids[:, 1:]


# ----- one framework and size, in a child process -------------------------------------------------
def _minigrad_step(size: tuple[int, ...], threads: int) -> tuple[Any, int]:
    import minigrad
    from transformer import TransformerConfig, TransformerLM

    setup_minigrad(threads)
    vocab, d, heads, layers, T, B = size
    minigrad.manual_seed(0)
    config = TransformerConfig(vocab_size=vocab, max_len=T, d_model=d, n_heads=heads, n_layers=layers)
    model = TransformerLM(config)
    optimizer = minigrad.optim.AdamW(model.parameters(), lr=1e-3)
    ids, targets = _batch(vocab, T, B)

    def step() -> None:
        optimizer.zero_grad()
        _, loss = model(ids, targets)
        loss.backward()
        optimizer.step()

    return step, sum(p.data.size for p in model.parameters())


def _torch_step(size: tuple[int, ...], threads: int) -> tuple[Any, int]:
    import torch
    from torch import nn

    setup_torch(threads)
    torch.manual_seed(0)
    vocab, d, heads, layers, T, B = size

    class TorchLM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tok_emb = nn.Embedding(vocab, d)
            self.pos_emb = nn.Embedding(T, d)
            self.blocks = nn.ModuleList(
                nn.TransformerEncoderLayer(d, heads, 4 * d, dropout=0.0, activation="gelu", batch_first=True)
                for _ in range(layers)
            )
            self.head = nn.Linear(d, vocab)
            self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(T))

        def forward(self, ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            x = self.tok_emb(ids) + self.pos_emb(torch.arange(ids.shape[1]))
            for block in self.blocks:
                x = block(x, src_mask=self.mask, is_causal=True)
            logits = self.head(x)
            return nn.functional.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1))

    model = TorchLM()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids, targets = (torch.from_numpy(a) for a in _batch(vocab, T, B))

    def step() -> None:
        optimizer.zero_grad()
        model(ids, targets).backward()
        optimizer.step()

    return step, sum(p.numel() for p in model.parameters())


def worker(framework: str, size_name: str, steps: int, threads: int) -> dict[str, Any]:
    if framework == "torch":
        import torch  # noqa: F401  (counted in the baseline, like minigrad's imports below)
    else:
        import minigrad  # noqa: F401
        import transformer  # noqa: F401
    baseline = maxrss_mb()
    size = SIZES[size_name]
    step, n_params = _torch_step(size, threads) if framework == "torch" else _minigrad_step(size, threads)
    for _ in range(2):  # warm-up: optimizer state, caches, the allocator's first faults
        step()
    wall, cpu = [], []
    for _ in range(steps):
        start, start_cpu = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {
        "ms": 1e3 * statistics.median(wall),
        "cpu_ms": 1e3 * statistics.median(cpu),
        "baseline_mb": baseline,
        "peak_mb": maxrss_mb(),
        "params": n_params,
    }


# ----- where minigrad's time goes -----------------------------------------------------------------
def breakdown(size_name: str, steps: int, threads: int) -> None:
    """Time every op's forward and backward (by Function class), the optimizer step, and the
    rest (graph bookkeeping, module calls, Python) over `steps` steps of minigrad."""
    import minigrad
    from minigrad.autograd import Function

    step, _ = _minigrad_step(SIZES[size_name], threads)
    step()
    totals: dict[tuple[str, str], float] = {}

    def timed(key: tuple[str, str], fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[key] = totals.get(key, 0.0) + time.perf_counter() - start

        return wrapper

    classes, todo = [], list(Function.__subclasses__())
    while todo:
        cls = todo.pop()
        classes.append(cls)
        todo.extend(cls.__subclasses__())
    for cls in classes:
        for kind in ("forward", "backward"):
            if kind in vars(cls):
                setattr(cls, kind, staticmethod(timed((cls.__name__, kind), vars(cls)[kind].__func__)))
    minigrad.optim.AdamW.step = timed(("AdamW", "step"), minigrad.optim.AdamW.step)

    per_step: list[dict[tuple[str, str], float]] = []
    step_times = []
    for _ in range(steps):
        totals.clear()
        start = time.perf_counter()
        step()
        step_times.append(time.perf_counter() - start)
        per_step.append(dict(totals))
    # medians over the steps, so that one step slowed by another process does not skew a row
    medians = {k: statistics.median(t.get(k, 0.0) for t in per_step) for k in per_step[0]}
    total = statistics.median(step_times) * 1e3
    rows = sorted(((v * 1e3, k) for k, v in medians.items()), reverse=True)
    accounted = sum(ms for ms, _ in rows)
    print(f"# minigrad step, size {size_name}: {total:.1f} ms per step (with timing wrappers), "
          f"medians of {steps} steps")
    out = [[f"{name}.{kind}", f"{ms:.2f}", f"{100 * ms / total:.1f}%"] for ms,
           (name, kind) in rows if ms >= 0.05]
    rest = total - accounted
    out.append(["rest: graph bookkeeping, modules, Python", f"{rest:.2f}", f"{100 * rest / total:.1f}%"])
    print(table(out, ["op", "ms/step", "share"]))
    fwd = sum(ms for ms, (_, kind) in rows if kind == "forward")
    bwd = sum(ms for ms, (_, kind) in rows if kind == "backward")
    optimizer = medians.get(("AdamW", "step"), 0.0) * 1e3
    print(f"# op forwards {fwd:.1f} ms, op backwards {bwd:.1f} ms, optimizer {optimizer:.1f} ms")


# ----- the parent: run the children side by side, print the table --------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="tiny,small,medium",
                        help="comma-separated, from " + ", ".join(SIZES))
    parser.add_argument("--steps", type=int, default=20, help="timed steps per child (after 2 warm-up steps)")
    parser.add_argument("--malloc", choices=("on", "off", "both"), default="on",
                        help="minigrad's glibc malloc tuning (both: two minigrad sides)")
    parser.add_argument("--breakdown", metavar="SIZE", choices=tuple(SIZES),
                        help="time minigrad's ops at one size instead, in this process")
    add_side_by_side_options(parser)
    args = parser.parse_args()
    sizes = args.sizes.split(",")
    if args.worker:
        print(json.dumps(worker(args.worker, sizes[0], args.steps, args.threads)))
        return
    if args.breakdown:
        print(header("where a minigrad training step spends its time", args.threads))
        breakdown(args.breakdown, args.steps, args.threads)
        return

    mallopt_modes = {"on": [True], "off": [False], "both": [True, False]}[args.malloc]
    sides = {_side_name(m, len(mallopt_modes) > 1): ("minigrad", m) for m in mallopt_modes}
    if torch_available() and not args.no_torch:
        sides["torch"] = ("torch", True)
    title = "one training step of a post-LN causal TransformerLM (forward, backward, AdamW)"
    print(header(title, args.threads))
    print(f"# {args.pairs} alternating pairs of fresh processes per size ({' / '.join(sides)}), "
          f"each the median of {args.steps} steps")
    rows = []
    for size in sizes:
        def child(framework: str, mallopt: bool, size: str = size) -> dict[str, Any]:
            arguments = [framework, "--sizes", size, "--steps", str(args.steps)]
            return run_worker(__file__, arguments, args.threads, mallopt)

        runs = alternate({name: lambda f=f, m=m: child(f, m) for name, (f, m) in sides.items()}, args.pairs)
        rows += [_row(size, name, results, runs.get("torch")) for name, results in runs.items()]
    head = ["size", "side", "ms/step", "cpu ms", "GFLOP/s", "vs torch", "spread", "peak MB", "+step MB",
            "mem vs torch", "params"]
    print(table(rows, head))
    print("# ms/step, cpu ms: medians over the pairs (cpu ms: CPU time per step, all the child's threads);")
    print("# vs torch: the median over the pairs of the ratio within each pair; spread: lowest-highest pair;")
    print("# peak MB: the highest ru_maxrss of the side's children, +step MB: that above the child's")
    print("# ru_maxrss right after its imports; mem vs torch: the median per-pair ratio of peak MB")
    print(f"# load average at the end: {load_average()}")


def _side_name(mallopt: bool, both: bool) -> str:
    return f"minigrad (mallopt {'on' if mallopt else 'off'})" if both else "minigrad"


Results = list[dict[str, Any]]  # one side's children, in pair order


def _row(size: str, name: str, results: Results, torch: Results | None) -> list[str]:
    """One line of the table: a side's medians, and its ratios to PyTorch within each pair."""
    ms = median_of(results, "ms")
    speed = Ratios.of(results, torch, "ms") if torch else None
    memory = Ratios.of(results, torch, "peak_mb") if torch else None
    return [
        size, name, f"{ms:.2f}", f"{median_of(results, 'cpu_ms'):.2f}",
        f"{step_flops(*SIZES[size]) / ms / 1e6:.1f}",
        "-" if speed is None else f"{speed.median:.2f}", "-" if speed is None else speed.spread,
        f"{max(r['peak_mb'] for r in results):.0f}",
        f"{max(r['peak_mb'] - r['baseline_mb'] for r in results):.0f}",
        "-" if memory is None else f"{memory.median:.2f}", f"{int(results[0]['params']):,}",
    ]

if __name__ == "__main__":
    main()
