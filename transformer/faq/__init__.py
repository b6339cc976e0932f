"""Five questions about attention, answered by experiment (results: docs/faq.md).

The questions, and the claims each experiment tests, come from the Chinese-language tutorial
this project started from; docs/architecture.md restates them.

    from transformer.faq import EXPERIMENTS
    result = EXPERIMENTS["q1"](quick=True, out_dir="figures")   # prints its tables, writes figures
    result.facts.mid_accuracy[4]                                # the numbers behind the claim: a
                                                                # stats.Spread over the seeds

or from the shell: `minigrad-transformer faq q1 [--quick] [--out DIR]`. Each experiment is
seeded and repeatable; `quick=True` is a seconds-long smoke version (what the tests run), too
short to quote. What they share: `training` (the recipe), `stats` (spreads over seeds, median
timing), `readout` (attention weights and heatmaps), `report` (tables), `svg_chart` (charts).
"""
from .q1_multihead import run as run_q1
from .q2_shared_qk import run as run_q2
from .q3_additive import run as run_q3
from .q4_scaling import run as run_q4
from .q5_head_dim import run as run_q5
from .report import DEFAULT_OUT, Result

# q1 multi-head, q2 shared Q/K, q3 additive scores, q4 scaling by sqrt(d_k), q5 reduced head size
EXPERIMENTS = {"q1": run_q1, "q2": run_q2, "q3": run_q3, "q4": run_q4, "q5": run_q5}


__all__ = ["EXPERIMENTS", "DEFAULT_OUT", "Result", "run_q1", "run_q2", "run_q3", "run_q4", "run_q5"]
