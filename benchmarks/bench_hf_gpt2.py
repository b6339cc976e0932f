"""GPT-2-small loaded from a checkpoint folder: minigrad (transformer.hf) against transformers.

    python benchmarks/bench_hf_gpt2.py [--threads N] [--new-tokens 64] [--keep FOLDER]

A random GPT2LMHeadModel of GPT-2-small's shape (12 layers, 12 heads, d 768, vocab 50257,
124M parameters) is written once with `save_pretrained`; then each framework, in its own child
process (so that each peak RSS is its own), loads the folder and measures: load time, peak RSS
after loading, the latency of one forward pass on 1 x 128 tokens (median of 5 after a warm-up),
and greedy generation of `--new-tokens` tokens after a 16-token prompt with the KV cache, in
tokens per second. Needs torch, transformers and safetensors.
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
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


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
    results = {}
    for name in ("minigrad", "torch"):
        command = [sys.executable, __file__, "--child", name, "--folder", folder,
                   "--new-tokens", str(args.new_tokens)]
        command += ["--threads", str(args.threads)] if args.threads else []
        results[name] = json.loads(subprocess.run(command, env=env, check=True, capture_output=True,
                                                  text=True).stdout.strip().splitlines()[-1])
    threads = args.threads or "default"
    print(f"GPT-2-small, random weights, float32 ({weights_mib:.0f} MiB); threads: {threads}")
    print(f"{'':12}{'load s':>9}{'peak RSS MiB':>14}{'x weights':>11}{'fwd 1x128 ms':>14}{'gen tok/s':>11}")
    for name, r in results.items():
        rss = r["rss_after_load_mib"]
        print(f"{name:12}{r['load_s']:9.2f}{rss:14.0f}{rss / weights_mib:11.2f}"
              f"{r['forward_ms']:14.1f}{r['tokens_per_s']:11.1f}")
    same = results["minigrad"]["tokens"] == results["torch"]["tokens"]
    print(f"greedy tokens identical: {same}")


if __name__ == "__main__":
    main()
