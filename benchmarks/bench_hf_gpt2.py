"""GPT-2-small loaded from a checkpoint folder: minigrad (transformer.hf) against transformers.

    python benchmarks/bench_hf_gpt2.py [--threads N] [--new-tokens 64] [--rounds 3] [--keep FOLDER]

A random GPT2LMHeadModel of GPT-2-small's shape (12 layers, 12 heads, d 768, vocab 50257,
124M parameters) is written once with `save_pretrained`; then each framework, in its own child
process (so that each peak RSS is its own), loads the folder and measures: load time, peak RSS
after loading, the latency of one forward pass on 1 x 128 tokens (median of 5 after a warm-up),
and greedy generation of `--new-tokens` tokens after a 16-token prompt with the KV cache, in
tokens per second. The two alternate over `--rounds` rounds (minigrad first in odd rounds,
transformers first in even ones), so that a change in the machine's load touches both; the
summary gives the median of each figure and of the per-round ratios. minigrad's child tunes
the allocator (`minigrad.tune_allocator()`, as the command line does) after the load has been
measured. Needs torch, transformers and safetensors.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from _common import ROOT  # noqa: F401  (puts the repository root on sys.path)

PROMPT, FORWARD_T = 16, 128


def peak_rss_mib() -> float:
    """This process's peak resident memory. Linux's VmHWM belongs to the address space, which
    exec replaces; ru_maxrss (elsewhere) would carry over the parent's peak into a child."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024  # KiB
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def median_seconds(fn, repeats: int = 5) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def child_minigrad(folder: str, new_tokens: int) -> dict:
    import numpy as np

    import minigrad
    from transformer import hf

    start = time.perf_counter()
    model = hf.load_pretrained(folder)
    load = time.perf_counter() - start
    rss = peak_rss_mib()
    minigrad.tune_allocator()
    ids = np.random.default_rng(0).integers(0, model.config.vocab_size, (1, FORWARD_T))
    with minigrad.no_grad():
        forward = median_seconds(lambda: model(ids))
    prompt = ids[:, :PROMPT]
    start = time.perf_counter()
    out = model.generate(prompt, new_tokens, temperature=0, use_cache=True)
    generate = time.perf_counter() - start
    return {"load_s": load, "rss_after_load_mib": rss, "forward_ms": forward * 1e3,
            "tokens_per_s": new_tokens / generate, "tokens": out[0, PROMPT:].tolist()}


def child_torch(folder: str, new_tokens: int) -> dict:
    import numpy as np
    import torch
    import transformers

    start = time.perf_counter()
    model = transformers.GPT2LMHeadModel.from_pretrained(folder).eval()
    load = time.perf_counter() - start
    rss = peak_rss_mib()
    ids = torch.tensor(np.random.default_rng(0).integers(0, model.config.vocab_size, (1, FORWARD_T)))
    with torch.no_grad():
        forward = median_seconds(lambda: model(ids))
        start = time.perf_counter()
        out = model.generate(ids[:, :PROMPT], max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                             do_sample=False, use_cache=True, pad_token_id=0)
        generate = time.perf_counter() - start
    return {"load_s": load, "rss_after_load_mib": rss, "forward_ms": forward * 1e3,
            "tokens_per_s": new_tokens / generate, "tokens": out[0, PROMPT:].tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default: %(default)s)")
    parser.add_argument("--keep", default=None, help="write the checkpoint folder here and keep it")
    parser.add_argument("--child", choices=("minigrad", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.threads and args.child == "torch":
            import torch
            torch.set_num_threads(args.threads)
        run = child_minigrad if args.child == "minigrad" else child_torch
        print(json.dumps(run(args.folder, args.new_tokens)))
        return

    import torch
    import transformers

    folder = args.keep or tempfile.mkdtemp(prefix="gpt2-small-")
    if not os.path.exists(os.path.join(folder, "config.json")):
        torch.manual_seed(0)
        transformers.GPT2LMHeadModel(transformers.GPT2Config()).save_pretrained(folder)
    weights_mib = 124_439_808 * 4 / 2**20  # GPT-2-small's parameters in float32 (tied head counted once)
    env = dict(os.environ)
    if args.threads:
        env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = str(args.threads)
    names = ("minigrad", "torch")
    rounds: list[dict] = []
    for r in range(args.rounds):
        results = {}
        for name in names if r % 2 == 0 else names[::-1]:
            command = [sys.executable, __file__, "--child", name, "--folder", folder,
                       "--new-tokens", str(args.new_tokens)]
            command += ["--threads", str(args.threads)] if args.threads else []
            results[name] = json.loads(subprocess.run(command, env=env, check=True, capture_output=True,
                                                      text=True).stdout.strip().splitlines()[-1])
        rounds.append(results)
        figures = [f"{n} load {results[n]['load_s']:.2f} s, fwd {results[n]['forward_ms']:.0f} ms, "
                   f"{results[n]['tokens_per_s']:.1f} tok/s" for n in names]
        print(f"round {r + 1}: {'; '.join(figures)} (load average {os.getloadavg()[0]:.1f})", flush=True)
    threads = args.threads or "default"
    print(f"GPT-2-small, random weights, float32 ({weights_mib:.0f} MiB); threads: {threads}; "
          f"medians of {args.rounds} rounds")
    print(f"{'':14}{'load s':>9}{'peak RSS MiB':>14}{'x weights':>11}{'fwd 1x128 ms':>14}{'gen tok/s':>11}")
    keys = ("load_s", "rss_after_load_mib", "forward_ms", "tokens_per_s")

    def median(name: str, key: str) -> float:
        return statistics.median(r[name][key] for r in rounds)

    for name in names:
        load, rss, fwd, gen = (median(name, k) for k in keys)
        print(f"{name:14}{load:9.2f}{rss:14.0f}{rss / weights_mib:11.2f}{fwd:14.1f}{gen:11.1f}")
    ratio = {k: statistics.median(r["minigrad"][k] / r["torch"][k] for r in rounds) for k in keys}
    print(f"{'minigrad/torch':14}{ratio['load_s']:9.2f}{ratio['rss_after_load_mib']:14.2f}{'':11}"
          f"{ratio['forward_ms']:14.2f}{ratio['tokens_per_s']:11.2f}")
    same = all(r["minigrad"]["tokens"] == r["torch"]["tokens"] for r in rounds)
    print(f"greedy tokens identical: {same}")

if __name__ == "__main__":
    main()
