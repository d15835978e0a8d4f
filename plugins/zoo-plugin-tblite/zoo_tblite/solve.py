"""xTB's own equilibrium bond length of a molecule: the root of its bond force.

Why here: it is what "use xTB directly" means for the bond-length task (no model, xTB at
prediction time), so benchmarks and users compare against it; and it is a check of the
knowledge source (the root must be a minimum: the bond force falls through zero).

The search goes through the knowledge source, one row at a time, and counts its queries:
from a starting guess r0 the bracket grows geometrically towards the side the force points
(a positive force means the bonds are too short), then Brent's method closes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo import ConfigError, SKSError


@dataclass(frozen=True)
class BondLengthSolution:
    """The root ``r`` (Å) of the bond force, the force there, and the SKS queries spent."""

    r: float
    force: float
    queries: int
    converged: bool


def equilibrium_bond_length(
    sks: Any,
    molecule: Any,
    r0: float,
    *,
    xtol: float = 1e-5,
    growth: float = 1.1,
    max_expansions: int = 30,
) -> BondLengthSolution:
    """The bond length at which ``sks``'s ``bond_force`` on ``molecule`` vanishes.

    ``sks``: an ``xtb`` knowledge source with ``inputs="bond_length"`` and ``bond_force`` among
    its outputs; ``r0``: the starting guess (Å), e.g. the covalent-radius sum; ``xtol``: the
    bracket width (Å) at which Brent's method stops. The bracket never leaves the SKS's
    input bounds. Not converged (``converged=False``, ``r`` NaN) when no sign change is
    found inside the bounds or a query fails.
    """
    from scipy.optimize import brentq

    if sks.input_spec.names != ("r",) or "bond_force" not in sks.output_spec.names:
        raise ConfigError(
            "equilibrium_bond_length needs an xtb knowledge source with inputs='bond_length' and "
            f"'bond_force' among its outputs; this one has {list(sks.input_spec.names)} -> "
            f"{list(sks.output_spec.names)}"
        )
    col = sks.output_spec.names.index("bond_force")
    lo_bound, hi_bound = float(sks.input_spec.lower[0]), float(sks.input_spec.upper[0])
    seen: dict[float, float] = {}  # Brent asks again for the bracket's ends: not re-queried

    def force(r: float) -> float:
        if r not in seen:
            try:
                seen[r] = float(sks(np.array([[r]]), [molecule])[0, col])
            except SKSError:  # the one row failed (SCF, geometry): no value here
                seen[r] = float("nan")
        return seen[r]

    def failed() -> BondLengthSolution:
        return BondLengthSolution(float("nan"), float("nan"), len(seen), False)

    r = float(np.clip(r0, lo_bound, hi_bound))
    f = force(r)
    if not np.isfinite(f):
        return failed()
    # a positive force pushes the atoms apart: the root lies at longer bonds
    step = growth if f > 0 else 1.0 / growth
    for _ in range(max_expansions):
        r_next = float(np.clip(r * step, lo_bound, hi_bound))
        if r_next == r:
            return failed()
        f_next = force(r_next)
        if not np.isfinite(f_next):
            return failed()
        if np.sign(f_next) != np.sign(f):
            a, b = sorted((r, r_next))
            root = brentq(force, a, b, xtol=xtol)
            return BondLengthSolution(float(root), force(root), len(seen), True)
        r, f = r_next, f_next
    return failed()
