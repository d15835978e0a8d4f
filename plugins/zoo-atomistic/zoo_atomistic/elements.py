"""Chemical element symbols and standard atomic weights, without ASE.

zoo-atomistic and the codes it serves must run where ASE is not installed (LAMMPS alone),
yet a structure's symbols must be real elements (LAMMPS writes them into its input) and
LAMMPS wants a mass per atom type. Masses do not change static energies, forces or
stress; they are here so that data files written for inspection look like what LAMMPS
users expect.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from zoo import ConfigError

SYMBOLS: tuple[str, ...] = tuple(
    """H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge
    As Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm
    Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U
    Np Pu Am Cm Bk Cf Es Fm Md No Lr Rf Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og""".split()
)

#: standard atomic weights (u), index i is element Z = i + 1 (IUPAC values as tabulated by ASE)
_MASSES = (
    1.0080, 4.0026, 6.9400, 9.0122, 10.8100, 12.0110, 14.0070, 15.9990, 18.9984, 20.1797,
    22.9898, 24.3050, 26.9815, 28.0850, 30.9738, 32.0600, 35.4500, 39.9480, 39.0983, 40.0780,
    44.9559, 47.8670, 50.9415, 51.9961, 54.9380, 55.8450, 58.9332, 58.6934, 63.5460, 65.3800,
    69.7230, 72.6300, 74.9216, 78.9710, 79.9040, 83.7980, 85.4678, 87.6200, 88.9058, 91.2240,
    92.9064, 95.9500, 97.9072, 101.0700, 102.9055, 106.4200, 107.8682, 112.4140, 114.8180,
    118.7100, 121.7600, 127.6000, 126.9045, 131.2930, 132.9055, 137.3270, 138.9055, 140.1160,
    140.9077, 144.2420, 144.9128, 150.3600, 151.9640, 157.2500, 158.9254, 162.5000, 164.9303,
    167.2590, 168.9342, 173.0540, 174.9668, 178.4900, 180.9479, 183.8400, 186.2070, 190.2300,
    192.2170, 195.0840, 196.9666, 200.5920, 204.3800, 207.2000, 208.9804, 208.9824, 209.9872,
    222.0176, 223.0197, 226.0254, 227.0277, 232.0377, 231.0359, 238.0289, 237.0482, 244.0642,
    243.0614, 247.0703, 247.0703, 251.0796, 252.0830, 257.0951, 258.0984, 259.1010, 262.1100,
    267.1220, 268.1260, 271.1340, 270.1330, 269.1338, 278.1560, 281.1650, 281.1660, 285.1770,
    286.1820, 289.1900, 289.1940, 293.2040, 293.2080, 294.2140,
)

ATOMIC_NUMBER: dict[str, int] = {s: i + 1 for i, s in enumerate(SYMBOLS)}
MASS: dict[str, float] = dict(zip(SYMBOLS, _MASSES))


def symbols(values: Iterable[Any], what: str = "symbol") -> tuple[str, ...]:
    """Every value a chemical element symbol, as plain ``str`` copies (a ``str`` subclass
    cannot change how it prints later); anything else is one ConfigError line.

    Each distinct symbol is checked once: a structure repeats few symbols many times.
    """
    if isinstance(values, (str, bytes)):
        raise ConfigError(f"{what}s: give a list of element symbols, got {_show(values)}")
    try:
        items = list(values)
    except TypeError:
        raise ConfigError(f"{what}s: give a list of element symbols, got {_show(values)}") from None
    out = tuple(str.__str__(v) if isinstance(v, str) else v for v in items)
    for value in out:
        if type(value) is not str:
            raise ConfigError(f"{what} {_show(value)} is not an element symbol (a string such as 'Cu')")
    for value in sorted(set(out) - ATOMIC_NUMBER.keys()):
        kind = "a chemical element" if value.isascii() and value.isalpha() else "an element symbol"
        raise ConfigError(f"{what} {_show(value)} is not {kind} (e.g. 'Cu')")
    return out


def _show(value: Any) -> str:
    """``ascii()`` of a value, cut to 80 characters: one line, every odd character escaped."""
    text = ascii(value)
    return text if len(text) <= 80 else f"{text[:70]}..."
