"""One training step (forward, backward, AdamW step) of a post-LN causal TransformerLM, side by
side in minigrad and PyTorch eager: ms/step, GFLOP/s, the ratio and peak memory.

    python benchmarks/bench_train_step.py                    # all sizes, 5 alternating pairs
    python benchmarks/bench_train_step.py --malloc both      # minigrad with and without mallopt
    python benchmarks/bench_train_step.py --breakdown small  # where the time goes: by op, by part

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
import resource
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
    forward_backward, optimizer, n_params = _torch_parts(size, threads)

    def step() -> None:
        forward_backward()
        optimizer.step()

    return step, n_params


def _torch_parts(size: tuple[int, ...], threads: int) -> tuple[Any, Any, int]:
    """PyTorch's side of a step: (zero_grad + forward + backward, the optimizer, parameters)."""
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

    def forward_backward() -> None:
        optimizer.zero_grad()
        model(ids, targets).backward()

    return forward_backward, optimizer, sum(p.numel() for p in model.parameters())


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
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(steps):
        start, start_cpu = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    return {
        "ms": 1e3 * statistics.median(wall),
        "cpu_ms": 1e3 * statistics.median(cpu),
        "faults": faults / steps,
        "baseline_mb": baseline,
        "peak_mb": maxrss_mb(),
        "params": n_params,
    }


# ----- where each framework's step spends its time ---------------------------------------------
# The parts of a step both frameworks have, by what computes them: minigrad's Function classes
# (and its optimizer), PyTorch's aten ops by the profiler's self time. Whatever no part names
# (embeddings, cross-entropy, adds, reshapes, copies, the graph, Python) is "everything else".
PARTS = {
    "linear layers (products, bias)": (("Linear",), ("aten::mm", "aten::addmm", "aten::sum")),
    "attention (fused)": (("ScaledDotProductAttention",), ("scaled_dot_product",)),
    "GELU": (("Gelu",), ("aten::gelu",)),
    "LayerNorm": (("LayerNorm",), ("layer_norm",)),
    "optimizer step (AdamW)": (("AdamW",), ()),
}
OPTIMIZER = "optimizer step (AdamW)"


def _part_of(name: str, framework: str) -> str | None:
    """The part a minigrad Function class (exact name) or an aten op (name contains) belongs to."""
    for part, (classes, aten) in PARTS.items():
        if (name in classes) if framework == "minigrad" else any(a in name for a in aten):
            return part
    return None


def _minigrad_breakdown(size_name: str, steps: int, threads: int) -> dict[str, Any]:
    """`steps` steps, each timed whole and with every op's forward and backward (by Function
    class) and the optimizer step timed inside it by wrappers: ms per step, per key."""
    import minigrad
    from minigrad.autograd import Function

    step, _ = _minigrad_step(SIZES[size_name], threads)
    step()
    totals: dict[str, float] = {}

    def timed(key: str, fn: Any) -> Any:
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
                setattr(cls, kind, staticmethod(timed(f"{cls.__name__}.{kind}", vars(cls)[kind].__func__)))
    minigrad.optim.AdamW.step = timed("AdamW.step", minigrad.optim.AdamW.step)
    result: dict[str, list[Any]] = {"step_ms": [], "ms": []}
    for _ in range(steps):
        totals.clear()
        start = time.perf_counter()
        step()
        result["step_ms"].append(1e3 * (time.perf_counter() - start))
        result["ms"].append({k: 1e3 * v for k, v in totals.items()})
    return result


def _torch_breakdown(size_name: str, steps: int, threads: int) -> dict[str, Any]:
    """`steps` steps timed whole (and their optimizer steps), then `steps` forward + backward
    passes under torch.profiler for the aten ops' self times: ms per step or pass, per key.
    The steps are timed without the profiler, so that its cost counts against no part of
    PyTorch's, and before it: a profiled pass between steps slowed the next step (`tiny`:
    7.9 ms a step against 4.6 without)."""
    from torch.profiler import ProfilerActivity, profile

    forward_backward, optimizer, _ = _torch_parts(SIZES[size_name], threads)
    forward_backward()
    optimizer.step()
    result: dict[str, list[Any]] = {"step_ms": [], "ms": []}
    optimizer_ms = []
    for _ in range(steps):
        start = time.perf_counter()
        forward_backward()
        middle = time.perf_counter()
        optimizer.step()
        end = time.perf_counter()
        result["step_ms"].append(1e3 * (end - start))
        optimizer_ms.append(1e3 * (end - middle))
    for optimizer_step_ms in optimizer_ms:
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            forward_backward()
        ms = {event.key: event.self_cpu_time_total / 1e3 for event in prof.key_averages()}
        ms["AdamW.step"] = optimizer_step_ms
        result["ms"].append(ms)
    return result


def _parts(step_ms: float, ms: dict[str, float], framework: str) -> dict[str, float]:
    """One step's ms by part, and "everything else": the step minus the parts."""
    parts = dict.fromkeys(PARTS, 0.0)
    for key, value in ms.items():
        name = key.split(".")[0] if framework == "minigrad" else key
        part = OPTIMIZER if key == "AdamW.step" else _part_of(name, framework)
        if part is not None:
            parts[part] += value
    parts["everything else"] = step_ms - sum(parts.values())
    parts["whole step"] = step_ms
    return parts


def _median_parts(run: dict[str, Any], framework: str) -> dict[str, float]:
    """A child's parts: medians over its steps."""
    steps = [_parts(t, ms, framework) for t, ms in zip(run["step_ms"], run["ms"])]
    return {part: statistics.median(s[part] for s in steps) for part in steps[0]}


def breakdown(size_name: str, steps: int, threads: int, pairs: int, with_torch: bool) -> None:
    """minigrad's step by op, and both frameworks' steps by part, from alternating children."""
    def child(framework: str) -> dict[str, Any]:
        arguments = [framework, "--sizes", size_name, "--steps", str(steps), "--breakdown", size_name]
        return run_worker(__file__, arguments, threads)

    sides = {"minigrad": lambda: child("minigrad")}
    if with_torch:
        sides["torch"] = lambda: child("torch")
    runs = alternate(sides, pairs)
    ours = runs["minigrad"]
    # medians over each child's steps, then over the children
    step_ms = statistics.median(statistics.median(r["step_ms"]) for r in ours)
    keys = {k for r in ours for ms in r["ms"] for k in ms}
    ops = sorted(((statistics.median(statistics.median(ms.get(k, 0.0) for ms in r["ms"]) for r in ours), k)
                  for k in keys), reverse=True)
    print(f"# minigrad, size {size_name}: {step_ms:.1f} ms per step (with the timing wrappers); "
          f"medians of {steps} steps in each of {pairs} processes, then over the processes")
    rows = [[key, f"{ms:.2f}", f"{100 * ms / step_ms:.1f}%"] for ms, key in ops if ms >= 0.05]
    rest = step_ms - sum(ms for ms, _ in ops)
    rows.append(["rest: graph bookkeeping, modules, Python", f"{rest:.2f}", f"{100 * rest / step_ms:.1f}%"])
    print(table(rows, ["op", "ms/step", "share"]))
    if not with_torch:
        return
    mine = [_median_parts(r, "minigrad") for r in ours]
    theirs = [_median_parts(r, "torch") for r in runs["torch"]]
    print(f"\n# by part, side by side: ms per step, medians over {pairs} alternating pairs")
    rows = []
    for part in mine[0]:
        a = statistics.median(m[part] for m in mine)
        b = statistics.median(t[part] for t in theirs)
        ratio = statistics.median(m[part] / t[part] for m, t in zip(mine, theirs)) if b > 0 else None
        excess = statistics.median(m[part] - t[part] for m, t in zip(mine, theirs))
        shown_ratio = "-" if ratio is None else f"{ratio:.2f}"
        rows.append([part, f"{a:.1f}", f"{b:.1f}", shown_ratio, f"{excess:+.1f}"])
    print(table(rows, ["part", "minigrad", "torch", "ratio", "minigrad - torch"]))
    print("# minigrad: its ops timed by wrappers inside each step; torch: aten ops' self time by")
    print("# torch.profiler in forward + backward passes after the steps, which are timed without it")
    print("# (linear layers: mm, addmm and sum, the bias gradients' sums among them); everything else:")
    print("# the step minus the named parts: each side's other ops and its framework (embeddings,")
    print("# cross-entropy, adds, copies, the graph, Python); ratio and difference: medians of the")
    print("# per-pair values")


# ----- the parent: run the children side by side, print the table --------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="tiny,small,medium",
                        help="comma-separated, from " + ", ".join(SIZES))
    parser.add_argument("--steps", type=int, default=20, help="timed steps per child (after 2 warm-up steps)")
    parser.add_argument("--malloc", choices=("on", "off", "both"), default="on",
                        help="minigrad's glibc malloc tuning (both: two minigrad sides)")
    parser.add_argument("--breakdown", metavar="SIZE", choices=tuple(SIZES),
                        help="instead: where a step at one size spends its time, minigrad by op and "
                             "both frameworks by part (--pairs alternating child processes each)")
    add_side_by_side_options(parser)
    args = parser.parse_args()
    sizes = args.sizes.split(",")
    if args.worker and args.breakdown:
        run = _torch_breakdown if args.worker == "torch" else _minigrad_breakdown
        print(json.dumps(run(args.breakdown, args.steps, args.threads)))
        return
    if args.worker:
        print(json.dumps(worker(args.worker, sizes[0], args.steps, args.threads)))
        return
    if args.breakdown:
        print(header("where a training step spends its time, op by op and side by side", args.threads))
        breakdown(args.breakdown, args.steps, args.threads, args.pairs,
                  torch_available() and not args.no_torch)
        print(f"# load average at the end: {load_average()}")
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
    head = ["size", "side", "ms/step", "cpu ms", "GFLOP/s", "faults", "vs torch", "spread", "peak MB",
            "+step MB", "mem vs torch", "params"]
    print(table(rows, head))
    print("# ms/step, cpu ms: medians over the pairs (cpu ms: CPU time per step, all the child's threads);")
    print("# faults: page faults per step (minor: memory the kernel hands out again, zeroed), median;")
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
        f"{step_flops(*SIZES[size]) / ms / 1e6:.1f}", f"{median_of(results, 'faults'):.0f}",
        "-" if speed is None else f"{speed.median:.2f}", "-" if speed is None else speed.spread,
        f"{max(r['peak_mb'] for r in results):.0f}",
        f"{max(r['peak_mb'] - r['baseline_mb'] for r in results):.0f}",
        "-" if memory is None else f"{memory.median:.2f}", f"{int(results[0]['params']):,}",
    ]

if __name__ == "__main__":
    main()
