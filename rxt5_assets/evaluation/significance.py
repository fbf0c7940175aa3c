"""How sure a difference between two systems on the same rows is: the paired bootstrap.

Two systems scored on the same eval rows differ by a few points on a few hundred rows, and one row can move a
language's validity by several points. The paired bootstrap (Koehn 2004, the usual test for MT and code-generation
metrics) resamples the *rows* with replacement, recomputes both systems' metric on each resample, and reads the spread
of the difference: a 95 % interval that excludes 0 says the difference is not the sample's luck.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence


@dataclass(frozen=True)
class PairedDifference:
    delta: float  # metric(b) - metric(a) on all rows
    low: float  # the 2.5th percentile of the resampled differences
    high: float  # the 97.5th percentile
    p_b_better: float  # share of resamples where b scores above a
    rows: int
    resamples: int

    @property
    def significant(self) -> bool:
        """The 95 % interval excludes 0."""
        return self.low > 0 or self.high < 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "significant": self.significant}

    def describe(self, scale: float = 1.0, digits: int = 1) -> str:
        return (f"{self.delta * scale:+.{digits}f} [{self.low * scale:+.{digits}f}, {self.high * scale:+.{digits}f}]"
                + (" *" if self.significant else ""))


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def paired_bootstrap(a: Sequence[Any], b: Sequence[Any], metric: Callable[[Sequence[Any]], float] = mean, *,
                     resamples: int = 1000, seed: int = 0) -> PairedDifference:
    """metric(b) - metric(a) with its 95 % paired-bootstrap interval. `a[i]` and `b[i]` are the two systems' per-row
    items for row i (a 0/1 validity, a sentence score, or a (hypothesis, reference) pair for a corpus-level metric);
    `metric` maps a list of items to a score. Deterministic for a seed."""
    if len(a) != len(b):
        raise ValueError(f"paired rows: a has {len(a)}, b has {len(b)}")
    if not a:
        raise ValueError("paired_bootstrap needs at least one row")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1 (got {resamples})")
    n = len(a)
    rng = random.Random(seed)
    deltas = []
    for _ in range(resamples):
        idx = [rng.randrange(n) for _ in range(n)]
        deltas.append(metric([b[i] for i in idx]) - metric([a[i] for i in idx]))
    deltas.sort()
    low = deltas[int(0.025 * (resamples - 1))]
    high = deltas[int(round(0.975 * (resamples - 1)))]
    return PairedDifference(delta=metric(list(b)) - metric(list(a)), low=low, high=high,
                            p_b_better=sum(d > 0 for d in deltas) / resamples, rows=n, resamples=resamples)


def corpus_chrf(pairs: Sequence[tuple[str, str]]) -> float:
    """sacrebleu's corpus chrF (0-100) of (hypothesis, reference) pairs: the metric the tables report."""
    from sacrebleu.metrics import CHRF

    if not pairs:
        return 0.0
    return CHRF().corpus_score([h for h, _ in pairs], [[r for _, r in pairs]]).score
