"""Numbers over several seeds, and times over several repeats: what every FAQ table reports.

One training run is one draw: another seed gives another initialisation and another data
stream, and on these small tasks the difference between two seeds can exceed the difference
between two variants. So every experiment trains each variant with several seeds and reports
the spread:

    from transformer.faq.stats import Spread, seed_list, median_time
    seeds = seed_list(0, quick=False)              # (0, 1, 2, 3, 4): SEEDS of them, 2 in quick mode
    acc = Spread.of([0.476, 0.70, 0.62, 0.71, 0.69])
    str(acc)                                       # '0.639 ± 0.098' (mean ± sample sd)
    acc.low, acc.high                              # 95% interval of the mean (Student t, n - 1 df)
    acc.interval()                                 # '[0.518, 0.761]'
    median_time(lambda: step())                    # seconds per call: median of 7 repeats

A Spread keeps its values (one per seed, in seed order), so a table can show them and a test
can assert on them.
"""
from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

SEEDS = 5        # seeds per variant in a full run
QUICK_SEEDS = 2  # in quick mode: enough to compute a spread, too few to quote one

# The 0.975 quantile of Student's t with df degrees of freedom (df = n - 1), for a two-sided
# 95% interval of a mean of n values. Beyond the table, the Cornish-Fisher expansion around
# the normal quantile 1.96 is within 1e-4.
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
         2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
         2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
Z_975 = 1.959964


def t_quantile_975(df: int) -> float:
    """The t value that leaves 2.5% in each tail with `df` degrees of freedom (df >= 1)."""
    if df < 1:
        raise ValueError(f"t_quantile_975: need df >= 1, got {df}")
    if df <= len(T_975):
        return T_975[df - 1]
    z = Z_975
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


def seed_list(first: int, quick: bool, n: int = SEEDS) -> tuple[int, ...]:
    """The seeds an experiment trains each variant with: `n` consecutive ones from `first`
    (QUICK_SEEDS of them in quick mode)."""
    count = min(n, QUICK_SEEDS) if quick else n
    return tuple(range(first, first + count))


@dataclass(frozen=True)
class Spread:
    """n measurements of one quantity (e.g. held-out accuracy, one per seed).

    `sd` is the sample standard deviation (n - 1 in the denominator; 0 for one value); `low`
    and `high` bound the 95% confidence interval of the mean, mean ± t(n - 1) · sd / sqrt(n),
    t-based because n is small (with 5 seeds t is 2.776, not 1.96).
    """

    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        values = tuple(float(v) for v in values)
        if not values:
            raise ValueError("Spread.of: no values")
        return cls(values)

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def sd(self) -> float:
        return statistics.stdev(self.values) if self.n > 1 else 0.0

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    @property
    def half_width(self) -> float:
        """Half the width of the 95% interval of the mean (0 for one value)."""
        return t_quantile_975(self.n - 1) * self.sd / math.sqrt(self.n) if self.n > 1 else 0.0

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def interval(self) -> str:
        return f"[{number(self.low)}, {number(self.high)}]"

    def __str__(self) -> str:
        """"mean ± sd", e.g. "0.640 ± 0.120"; just the mean for a single value."""
        return number(self.mean) if self.n == 1 else f"{number(self.mean)} ± {number(self.sd)}"


def number(v: float) -> str:
    """A float as the tables print it: 3 decimals below 10 (accuracies read 0.968, 1.000),
    scientific below 1e-3, 4 significant digits from 10 on."""
    if v != 0 and abs(v) < 1e-3:
        return f"{v:.2e}"
    if abs(v) < 10:
        return f"{v:.3f}"
    return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.3g}"


def median_time(fn: Callable[[], object], repeats: int = 7, min_time: float = 0.05) -> float:
    """Seconds per call of `fn`: the median over `repeats` samples, each sample a loop long
    enough (>= `min_time`) that the timer's resolution does not matter. One untimed warm-up
    call first (caches, lazy imports, the allocator's first faults). The median rather than
    the best: on a shared machine the best is luck, the median what a run can expect."""
    fn()
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    loops = max(1, int(min_time / max(once, 1e-7)))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        samples.append((time.perf_counter() - start) / loops)
    return statistics.median(samples)
