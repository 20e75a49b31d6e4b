"""The M/D/1 queue's known answers, against which the server scenario is checked: Poisson arrivals at rate
λ, one server with a fixed service time s, first come first served (a generator at batch 1 behind LoadGen).

* mean response time (Pollaczek–Khinchine with zero service variance): E[R] = s + ρs / (2(1 − ρ)), ρ = λs;
* the waiting-time distribution (Erlang, 1909): P(W ≤ t) = (1 − ρ) Σ_{k=0}^{⌊t/s⌋} (λ(ks − t))^k / k! ·
  e^{−λ(ks − t)}. Its terms alternate in sign and grow like e^{λt}, so it is summed in 50-digit decimal
  arithmetic (double precision loses every digit beyond t ≈ 30 s·ρ);
* from it any percentile of the response time R = W + s, and the largest λ whose p99 meets a bound.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext


def mean_response(lam: float, s: float) -> float:
    rho = lam * s
    if not 0 <= rho < 1:
        raise ValueError(f"unstable queue: rho = {rho:.3g} (needs 0 ≤ λs < 1)")
    return s + rho * s / (2.0 * (1.0 - rho))


def wait_cdf(t: float, lam: float, s: float) -> float:
    """P(W ≤ t) for the M/D/1 queue (t in the same unit as s, λ per that unit)."""
    rho = lam * s
    if not 0 <= rho < 1:
        raise ValueError(f"unstable queue: rho = {rho:.3g}")
    if t < 0:
        return 0.0
    with localcontext() as ctx:
        ctx.prec = 60
        L, S, T = Decimal(repr(lam)), Decimal(repr(s)), Decimal(repr(t))
        total = Decimal(0)
        for k in range(math.floor(t / s) + 1):
            x = L * (k * S - T)
            total += (x**k if k else Decimal(1)) / Decimal(math.factorial(k)) * (-x).exp()
        return float((1 - Decimal(repr(rho))) * total)


def response_quantile(p: float, lam: float, s: float) -> float:
    """The p-quantile of the response time R = W + s."""
    if not 0 < p < 1:
        raise ValueError("p must lie in (0, 1)")
    if wait_cdf(0.0, lam, s) >= p:
        return s
    lo, hi = 0.0, s
    while wait_cdf(hi, lam, s) < p:
        hi *= 2.0
    for _ in range(80):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if wait_cdf(mid, lam, s) < p else (lo, mid)
    return s + hi


def max_rate_for_bound(bound: float, s: float, p: float = 0.99) -> float:
    """The largest arrival rate whose p-quantile response time stays within ``bound`` (bound > s)."""
    if bound <= s:
        return 0.0
    lo, hi = 0.0, (1.0 - 1e-9) / s
    for _ in range(60):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if response_quantile(p, mid, s) <= bound else (lo, mid)
    return lo
