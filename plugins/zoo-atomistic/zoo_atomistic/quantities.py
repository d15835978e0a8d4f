"""The output vocabulary: what an atomistic knowledge source can compute, in which units.

One table, :data:`QUANTITIES`; a knowledge source takes ``outputs=NAME`` or a list of names
and returns their columns side by side, in the order given. Units are ASE's: eV, Å, GPa
for pressure and stress. A code computes the quantities it names as ``offered`` to
:func:`parse_outputs`; asked for another one of the vocabulary, it says so in one line. A
code may add quantities of its own (``extra``: the Ewald sum's parts, bond-valence sums)
under names the vocabulary does not use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zoo import ConfigError, Spec

from .kinds import VOIGT

#: how a quantity's columns are laid out
ONE, SIX, PER_ATOM, PER_ATOM_XYZ = "one", "voigt", "per atom", "per atom x, y, z"


@dataclass(frozen=True)
class Quantity:
    """One output quantity: its name, units, column layout and meaning.

    Columns: ``name`` (one), ``{prefix}_xx`` ... in Voigt order (six), ``{prefix}{i}`` per
    atom, or ``{prefix}x{i}, {prefix}y{i}, {prefix}z{i}`` per atom (``prefix`` defaults to
    the name).
    """

    name: str
    units: str
    layout: str
    meaning: str
    prefix: str = ""

    def columns(self, n_atoms: int | None = None) -> tuple[str, ...]:
        prefix = self.prefix or self.name
        if self.layout == ONE:
            return (self.name,)
        if self.layout == SIX:
            return tuple(f"{prefix}_{c}" for c in VOIGT)
        if not n_atoms:
            raise ConfigError(f"outputs {self.name!r} needs the option n_atoms (atoms per structure)")
        if self.layout == PER_ATOM:
            return tuple(f"{prefix}{i}" for i in range(int(n_atoms)))
        return tuple(f"{prefix}{c}{i}" for i in range(int(n_atoms)) for c in "xyz")


QUANTITIES: dict[str, Quantity] = {
    q.name: q for q in (
        Quantity("energy", "eV", ONE, "potential energy of the structure"),
        Quantity("energy_per_atom", "eV/atom", ONE, "potential energy per atom"),
        Quantity("pressure", "GPa", ONE, "-trace(stress) / 3"),
        Quantity("stress", "GPa", SIX,
                 "stress tensor in Voigt order xx yy zz yz xz xy, ASE's sign (positive in tension)"),
        Quantity("forces", "eV/Å", PER_ATOM_XYZ, "-dE/dr of every atom (needs n_atoms)", prefix="f"),
        Quantity("volume", "Å^3", ONE, "cell volume"),
        Quantity("volume_per_atom", "Å^3/atom", ONE, "cell volume per atom"),
    )
}


@dataclass(frozen=True)
class Outputs:
    """The resolved ``outputs`` option: quantities in column order, with ``n_atoms``."""

    quantities: tuple[Quantity, ...]
    n_atoms: int | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The quantity names, in order."""
        return tuple(q.name for q in self.quantities)

    def spec(self) -> Spec:
        names, units = [], []
        for q in self.quantities:
            cols = q.columns(self.n_atoms)
            names += cols
            units += [q.units] * len(cols)
        return Spec(names, units=units)


def parse_outputs(
    value: Any,
    *,
    offered: Sequence[str],
    n_atoms: int | None = None,
    extra: Mapping[str, Quantity] | None = None,
    who: str = "this knowledge source",
) -> Outputs:
    """Resolve the ``outputs`` option: a name or a list of names among ``offered`` (names of
    :data:`QUANTITIES` or of the code's own ``extra`` quantities)."""
    table = {**QUANTITIES, **(extra or {})}
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"outputs must be a name or a list of names, got {value!r}")
    if not names:
        raise ConfigError(f"outputs must name at least one of {', '.join(offered)}")
    for name in names:
        if name in QUANTITIES and name not in offered:
            raise ConfigError(f"{who} cannot compute outputs {name!r} ({QUANTITIES[name].meaning}); "
                              f"it computes {', '.join(offered)}")
    unknown = [n for n in names if n not in offered]
    if unknown:
        raise ConfigError(f"unknown outputs {unknown}; choose from {', '.join(offered)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"outputs lists a name twice: {list(names)}")
    outputs = Outputs(tuple(table[n] for n in names), n_atoms)
    outputs.spec()  # raises for a per-atom quantity without n_atoms
    return outputs


__all__ = ["Outputs", "QUANTITIES", "Quantity", "parse_outputs"]
