"""What is known about an element without any calculation: period, group, covalent radius,
electronegativity. The features of the bond-length task are built from these only.

* Covalent radii: ``ase.data.covalent_radii``, from B. Cordero et al., "Covalent radii
  revisited", Dalton Trans. 2832 (2008), doi:10.1039/b801115j (single-bond radii; C is
  the sp3 value, 0.76 Å).
* Pauling electronegativities: :data:`PAULING`, the values of A. L. Allred, "Electronegativity
  values from thermochemical data", J. Inorg. Nucl. Chem. 17, 215 (1961),
  doi:10.1016/0022-1902(61)80142-5, as tabulated in the CRC Handbook of Chemistry and
  Physics (Kr: 3.00). He, Ne and Ar have none.
* Period and group (IUPAC 1-18) follow from the atomic number (:func:`period_group`).
"""

from __future__ import annotations

from zoo import ConfigError

#: Pauling electronegativity, H to Kr (no value for He, Ne, Ar)
PAULING: dict[int, float] = {
    1: 2.20,
    3: 0.98, 4: 1.57, 5: 2.04, 6: 2.55, 7: 3.04, 8: 3.44, 9: 3.98,
    11: 0.93, 12: 1.31, 13: 1.61, 14: 1.90, 15: 2.19, 16: 2.58, 17: 3.16,
    19: 0.82, 20: 1.00, 21: 1.36, 22: 1.54, 23: 1.63, 24: 1.66, 25: 1.55, 26: 1.83,
    27: 1.88, 28: 1.91, 29: 1.90, 30: 1.65, 31: 1.81, 32: 2.01, 33: 2.18, 34: 2.55,
    35: 2.96, 36: 3.00,
}


def period_group(z: int) -> tuple[int, int]:
    """(period, IUPAC group 1-18) of element ``z``, H to Xe."""
    if z == 1:
        return 1, 1
    if z == 2:
        return 1, 18
    for period, first, last in ((2, 3, 10), (3, 11, 18)):  # s block, then groups 13-18
        if first <= z <= last:
            i = z - first + 1
            return period, i if i <= 2 else i + 10
    for period, first in ((4, 19), (5, 37)):
        if first <= z < first + 18:
            return period, z - first + 1
    raise ConfigError(f"element Z={z}: period and group are tabulated for H to Xe (Z <= 54) only")


def pauling(z: int) -> float:
    """The Pauling electronegativity of element ``z`` (:data:`PAULING`)."""
    try:
        return PAULING[z]
    except KeyError:
        raise ConfigError(
            f"element Z={z} has no Pauling electronegativity in zoo_tblite.elements.PAULING (H to Kr, "
            f"noble gases He-Ar excluded)"
        ) from None


def covalent_radius(z: int) -> float:
    """Cordero's covalent radius of element ``z`` (Å), from ``ase.data``."""
    from ase.data import covalent_radii

    return float(covalent_radii[z])
