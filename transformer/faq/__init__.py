"""The seed notes' five attention questions, answered by experiment (docs/faq.md shows the results).

    from transformer.faq import EXPERIMENTS
    result = EXPERIMENTS["q4"](quick=True, out_dir="figures")   # prints its tables, writes SVGs
    result.facts["entropy_unscaled"]                            # the numbers behind the claim

or from the shell: `minigrad-transformer faq q4 [--quick] [--out DIR]`. Each experiment is
seeded and repeatable; `quick=True` is a seconds-long smoke version (what the tests run), too
short to quote.
"""
from .q1_multihead import run as run_q1
from .q2_shared_qk import run as run_q2
from .q3_additive import run as run_q3
from .q4_scaling import run as run_q4
from .q5_head_dim import run as run_q5
from .report import Result

EXPERIMENTS = {"q1": run_q1, "q2": run_q2, "q3": run_q3, "q4": run_q4, "q5": run_q5}

QUESTIONS = {
    "q1": "Why multi-head attention? (1 vs 2 vs 4 heads at equal parameters)",
    "q2": "Why separate Q and K matrices? (shared_qk: symmetric scores)",
    "q3": "Why dot-product rather than additive scores? (time, memory, accuracy)",
    "q4": "Why divide the scores by sqrt(d_k)? (softmax saturation, vanishing gradient)",
    "q5": "Why a reduced d_k = d_model / h per head? (params, flops, time, accuracy)",
}

__all__ = ["EXPERIMENTS", "QUESTIONS", "Result", "run_q1", "run_q2", "run_q3", "run_q4", "run_q5"]
