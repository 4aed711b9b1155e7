"""Conditioning and accuracy of decoding for every code family against n.

For each family and ``(n, s)``: the worst condition number of ``B_R`` and the worst relative
decoding error ``‖ĝ − g‖ / ‖g‖`` over seeded responder sets ``F`` of size ``n − s`` (the ``n``
sets whose stragglers form a cyclic block, evenly spread stragglers, and random sets), with
Gaussian partial gradients encoded and decoded through the public API. The baseline is Tandon
et al.'s cyclic repetition code with a Gaussian check matrix, measured in the same run.

Run with ``python -m benchmarks codes``.
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np

import gclib
from gclib.codes.base import responder_patterns

SIZES = (10, 20, 30, 40, 50, 60)
THRESHOLD = 1e-9
RANDOM_PATTERNS = 300
DIMENSION = 8
SEED = 7


def straggler_counts(n: int) -> list[int]:
    """``1, n/4, n/4 + 1, n/2 − 1, n/2, n/2 + 1``: both parities, and ``(s + 1) | n``."""
    return sorted({1, n // 4, n // 4 + 1, n // 2 - 1, n // 2, n // 2 + 1})


def families(n: int, s: int) -> dict[str, gclib.GradientCode | None]:
    """The codes compared at ``(n, s)``; ``None`` where a family does not exist."""
    nested_levels = sorted({0, *straggler_counts(n)})
    return {
        "FR": gclib.FractionalRepetitionCode(n, s) if n % (s + 1) == 0 else None,
        "gaussian": gclib.CyclicRepetitionCode(n, s, seed=SEED, construction="gaussian"),
        "auto": gclib.CyclicRepetitionCode(n, s, seed=SEED),
        "MDS q=1": gclib.CyclicMDSCode(n, s, step=1) if (n - s) % 2 else None,
        "MDS best": gclib.CyclicMDSCode(n, s) if (n - s) % 2 else None,
        "nested": gclib.NestedGradientCode(n, nested_levels, seed=SEED).code(s),
    }


def measure(code: gclib.GradientCode, patterns: np.ndarray, rng: np.random.Generator):
    """Worst ``cond(B_R)`` and worst relative error of ``decode`` over ``patterns``."""
    code.residual_tolerance = math.inf  # measure the error instead of refusing to decode
    partials = rng.standard_normal((code.n, DIMENSION))
    messages = {i: code.encode(i, partials) for i in range(code.n)}
    truth = partials.sum(axis=0)
    worst_condition = worst_error = 0.0
    for responders in patterns:
        decoded = code.decode({int(i): messages[int(i)] for i in responders})
        error = float(np.linalg.norm(decoded - truth) / np.linalg.norm(truth))
        worst_error = max(worst_error, error if math.isfinite(error) else math.inf)
        worst_condition = max(worst_condition, code.condition_number(responders))
    return worst_condition, worst_error


def exhaustive(code: gclib.GradientCode, chunk: int = 4096) -> tuple[float, int, int]:
    """Over EVERY responder set of size n − s: worst relative error, number of sets above the
    threshold, number of sets (decoding vectors by a batched QR solve of ``B_Rᵀ α = 1``)."""
    n, s = code.n, code.s
    partials = np.random.default_rng([SEED, n, s]).standard_normal((n, DIMENSION))
    messages = np.stack([code.encode(i, partials) for i in range(n)])
    truth = partials.sum(axis=0)
    patterns = np.array(list(itertools.combinations(range(n), n - s)))
    worst, failures = 0.0, 0
    for begin in range(0, len(patterns), chunk):
        block = patterns[begin : begin + chunk]
        q, r = np.linalg.qr(np.swapaxes(code.B[block], 1, 2))
        weights = np.linalg.solve(r, q.sum(axis=1)[..., None])[..., 0]
        decoded = np.einsum("mk,mkd->md", weights, messages[block])
        errors = np.linalg.norm(decoded - truth, axis=1) / np.linalg.norm(truth)
        errors[~np.isfinite(errors)] = math.inf
        worst = max(worst, float(errors.max()))
        failures += int((~(errors < THRESHOLD)).sum())
    return worst, failures, len(patterns)


def orthonormal_check_matrix_changes_nothing(n: int = 40, s: int = 10) -> float:
    """``max |ΔB|`` between Gaussian ``H`` and ``H`` with orthonormalised rows (same null space)."""
    from gclib.codes.cyclic_repetition import tandon_gaussian

    rng = np.random.default_rng(SEED)
    matrix, check = tandon_gaussian(n, s, rng)
    orthonormal = np.linalg.qr(check.T)[0].T
    rebuilt = np.zeros_like(matrix)
    for i in range(n):
        window = [(i + k) % n for k in range(s + 1)]
        rebuilt[i, window[0]] = 1.0
        rebuilt[i, window[1:]] = np.linalg.solve(
            orthonormal[:, window[1:]], -orthonormal[:, window[0]]
        )
    return float(np.abs(rebuilt - matrix).max() / np.abs(matrix).max())


def main() -> None:
    start = time.perf_counter()
    names = list(families(10, 1))
    results: dict[tuple[str, int, int], tuple[float, float]] = {}
    header = f"{'n':>3} {'s':>3} | " + " | ".join(f"{name:>17}" for name in names)
    print("worst relative decoding error (worst cond(B_R)) over sampled responder sets")
    print(header)
    print("-" * len(header))
    for n in SIZES:
        for s in straggler_counts(n):
            patterns = responder_patterns(
                n, s, np.random.default_rng([SEED, n, s]), random_count=RANDOM_PATTERNS
            )
            cells = []
            for name, code in families(n, s).items():
                if code is None:
                    cells.append(f"{'-':>17}")
                    continue
                condition, error = measure(code, patterns, np.random.default_rng([SEED, n, s]))
                results[name, n, s] = (condition, error)
                cells.append(f"{error:8.1e} ({condition:6.0e})")
            print(f"{n:>3} {s:>3} | " + " | ".join(cells), flush=True)
    uncoded = [
        measure(gclib.UncodedCode(n), np.arange(n)[None, :], np.random.default_rng(n))
        for n in SIZES
    ]
    print(
        f"\nuncoded (s = 0): worst error {max(e for _, e in uncoded):.1e}, "
        f"cond(B_R) = {max(c for c, _ in uncoded):.0f}, for n up to {SIZES[-1]}"
    )

    print(f"\nlargest n with every tested s decoding below {THRESHOLD:g} (and failing cases)")
    for name in names:
        cases = sorted((n, s) for (family, n, s) in results if family == name)
        failing = [(n, s) for n, s in cases if not results[name, n, s][1] < THRESHOLD]
        first_fail = min((n for n, _ in failing), default=math.inf)
        passing = [(n, s) for n, s in cases if n < first_fail]
        largest = max(passing, default=None, key=lambda case: (case[0], case[1]))
        largest_text = "none" if largest is None else f"n = {largest[0]} (s up to "
        if largest is not None:
            largest_text += f"{max(s for n, s in passing if n == largest[0])})"
        print(f"  {name:>9}: {largest_text}; failing: {failing if failing else 'none'}")

    print("\nexhaustive: worst relative error over EVERY responder set [sets above 1e-9 / sets]")
    for n, counts in ((16, range(1, 16)), (20, (5, 10))):
        worst = {"gaussian": (0.0, 0, 0), "auto": (0.0, 0, 0)}
        for s in counts:
            for name, construction in (("gaussian", "gaussian"), ("auto", "auto")):
                code = gclib.CyclicRepetitionCode(n, s, seed=SEED, construction=construction)
                error, failures, total = exhaustive(code)
                old = worst[name]
                worst[name] = (max(old[0], error), old[1] + failures, old[2] + total)
        text = ", ".join(f"{k} {e:.1e} [{f} / {c}]" for k, (e, f, c) in worst.items())
        print(f"  n = {n}, s in {list(counts)}: {text}", flush=True)

    ratios = [
        results["gaussian", n, s][1] / max(results["auto", n, s][1], 1e-17)
        for (family, n, s) in results
        if family == "auto"
    ]
    print(
        f"\nerror ratio gaussian (baseline) / auto: geometric mean "
        f"{math.exp(np.mean(np.log(ratios))):.1f}, min {min(ratios):.2f}, max {max(ratios):.0f}"
    )
    print(
        "Orthonormalising the rows of the Gaussian H changes B by a relative "
        f"{orthonormal_check_matrix_changes_nothing():.1e} (B depends on null(H) only)."
    )
    print(f"took {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
