"""Honest statistics for leak tracing: scores to false-accusation probabilities.

A trace correlates the residual of a leaked clip with each candidate export's pattern
(``custodes.core.watermark``). A candidate is named only if its score is so large that
an innocent recipient would reach it with probability below ``alpha / n_candidates``
(Bonferroni: the chance that *any* innocent candidate is named stays below ``alpha``).

Where the probability comes from
--------------------------------
* **Empirical null.** The same residual is scored with many keys that were never issued
  (``watermark.null_keys``). Their mean and standard deviation (``empirical_null``) fit a
  Gaussian to what an innocent key scores on *this* residual; a residual with something
  odd in it (a systematic bias, correlated noise the model misses) shows up there as a
  shifted or widened null.
* **Model floor.** With about a thousand null keys the fit is good near the centre and
  says nothing direct about tails at 1e-9, so the p-value is never allowed below what the
  model says: ``p = max(p_empirical, model_sf(score))``. For the watermark the model is
  exact in mean and variance (a never-issued key's score has mean 0 and variance 1 given
  any residual) and ``watermark.score_tail_bound`` bounds its tail. An empirical null
  that comes out *narrower* than the model (sampling error: the standard deviation of
  1000 draws is itself uncertain by 2 %) therefore never makes anyone look guiltier; one
  that comes out *wider* or shifted up makes everyone look less guilty. Both errors are
  on the side of not naming.
* **Tail counting** (the fraction of null scores above the candidate's) cannot go below
  ``1 / (n_null + 1)`` and so cannot reach thresholds such as 1e-8; it is not used.

``gaussian_sf`` is ``erfc(z / sqrt 2) / 2``, accurate down to about 1e-308 (it
underflows to 0 beyond z = 37.5); ``gaussian_log10_sf`` keeps going for reports.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from custodes.core.errors import InvalidInput

__all__ = [
    "Attribution",
    "attribute",
    "empirical_null",
    "family_threshold",
    "gaussian_isf",
    "gaussian_log10_sf",
    "gaussian_sf",
    "p_value",
    "z_threshold",
]

_SQRT2 = math.sqrt(2.0)


def gaussian_sf(z: float) -> float:
    """Upper tail ``P(N(0, 1) >= z)``; relative accuracy of ``math.erfc`` to about 1e-308."""
    return 0.5 * math.erfc(z / _SQRT2)


def gaussian_log10_sf(z: float) -> float:
    """``log10 P(N(0, 1) >= z)``, finite for any finite z (asymptotic series past z = 37)."""
    if z < 37.0:
        return math.log10(gaussian_sf(z))
    # Mills ratio: sf(z) = phi(z) / z * (1 - 1/z^2 + 3/z^4 - 15/z^6 + ...)
    z2 = z * z
    series = 1.0 - 1.0 / z2 + 3.0 / z2**2 - 15.0 / z2**3
    ln = -0.5 * z2 - math.log(z) - 0.5 * math.log(2.0 * math.pi) + math.log(series)
    return ln / math.log(10.0)


def gaussian_isf(p: float) -> float:
    """The z with ``gaussian_sf(z) == p`` for ``0 < p < 1`` (bisection in log space)."""
    if not 0.0 < p < 1.0:
        raise InvalidInput(f"a probability in (0, 1) is needed, got {p}")
    lo, hi = -40.0, 40.0
    target = math.log(p)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        sf = gaussian_sf(mid)
        if sf > 0.0 and math.log(sf) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return 0.5 * (lo + hi)


def empirical_null(scores: Sequence[float]) -> tuple[float, float]:
    """Mean and (n - 1) standard deviation of the never-issued keys' scores."""
    values = [float(s) for s in scores]
    if len(values) < 2:
        raise InvalidInput("an empirical null needs at least two never-issued keys")
    if not all(math.isfinite(v) for v in values):
        raise InvalidInput("the null scores contain non-finite values")
    n = len(values)
    mean = math.fsum(values) / n
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var)


def p_value(score: float, null_mean: float, null_std: float) -> float:
    """``P(X >= score)`` for X Gaussian with the null's mean and standard deviation."""
    if not (math.isfinite(null_std) and null_std > 0.0):
        raise InvalidInput(f"the null's standard deviation must be positive, got {null_std}")
    if math.isnan(score):
        raise InvalidInput("score is NaN")
    return gaussian_sf((score - null_mean) / null_std)


def family_threshold(
    alpha_total: float,
    n_candidates: int,
    method: Literal["bonferroni", "sidak"] = "bonferroni",
) -> float:
    """The per-candidate p-value threshold keeping the family-wise error at ``alpha_total``.

    Bonferroni (``alpha / n``) holds whatever the dependence between candidates; Šidák
    (``1 - (1 - alpha)^(1/n)``) is a hair larger and exact for independent candidates.
    """
    if not 0.0 < alpha_total < 1.0:
        raise InvalidInput(f"alpha must be in (0, 1), got {alpha_total}")
    if n_candidates < 1:
        raise InvalidInput("at least one candidate is needed for a threshold")
    if method == "bonferroni":
        return alpha_total / n_candidates
    if method == "sidak":
        return -math.expm1(math.log1p(-alpha_total) / n_candidates)
    raise InvalidInput(f"unknown correction {method!r}")


def z_threshold(alpha_total: float, n_candidates: int) -> float:
    """The Gaussian score a candidate must exceed under the Bonferroni threshold."""
    return gaussian_isf(family_threshold(alpha_total, n_candidates))


@dataclass(frozen=True)
class Attribution:
    """One candidate's verdict. ``p_value`` is the false-accusation probability."""

    candidate: str
    score: float
    p_value: float
    threshold: float
    attributed: bool

    @property
    def log10_p(self) -> float:
        return math.log10(self.p_value) if self.p_value > 0.0 else gaussian_log10_sf(self.score)


def attribute(
    scores: Mapping[str, float],
    null: Sequence[float],
    alpha: float = 1e-6,
    *,
    model_sf: Callable[[float], float] = gaussian_sf,
) -> list[Attribution]:
    """Every candidate's p-value and verdict, highest score first.

    ``p = max(p_value(score, *empirical_null(null)), model_sf(score))`` (the model alone
    when the null scores are all equal, as for an empty residual); named when
    ``p < alpha / len(scores)``. ``model_sf`` is the theoretical null tail (for the
    watermark, ``watermark.score_tail_bound``); the default is the standard Gaussian.
    """
    if not scores:
        return []
    mean, std = empirical_null(null)
    threshold = family_threshold(alpha, len(scores))
    out: list[Attribution] = []
    for name, raw in scores.items():
        s = float(raw)
        if not math.isfinite(s):
            raise InvalidInput(f"score of {name!r} is not finite")
        p = model_sf(s)
        if std > 0.0:  # all-equal null scores (an empty residual): the model alone
            p = max(p, p_value(s, mean, std))
        p = min(1.0, p)
        out.append(Attribution(name, s, p, threshold, p < threshold))
    out.sort(key=lambda a: (-a.score, a.candidate))
    return out
