"""Oxidation states for the knowledge sources that need charges (Ewald, bond valence).

Three ways, in this order: the ``oxidation_states`` option ({"Na": 1, "Cl": -1}) wins;
otherwise a structure whose species already carry oxidation states keeps them; otherwise
pymatgen guesses them from the composition (``Composition.oxi_state_guesses``, the guess
``Structure.add_oxidation_state_by_guess`` uses). A guess of zero charge everywhere (what
pymatgen offers for a metal) is refused: the energy would be a silent 0. The guess costs seconds, so it is cached
per composition: zoo asks for the same structure hundreds of times.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymatgen.core import Structure

from zoo import ConfigError


def check_option(value: Any, who: str) -> dict[str, float] | None:
    """Validate the ``oxidation_states`` option: None or a mapping element -> number."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(f"{who}: oxidation_states must be a table such as {{Na = 1, Cl = -1}}, "
                          f"got {value!r}")
    from pymatgen.core import Element

    out = {}
    for el, ox in value.items():
        try:
            Element(str(el))
        except ValueError:
            raise ConfigError(f"{who}: oxidation_states names {el!r}, which is not an element") from None
        if isinstance(ox, bool) or not isinstance(ox, (int, float)):
            raise ConfigError(f"{who}: oxidation state of {el} must be a number, got {ox!r}")
        out[str(el)] = float(ox)
    return out


def has_oxidation_states(structure: Structure) -> bool:
    return all(getattr(sp, "oxi_state", None) is not None for site in structure for sp in site.species)


def decorated(
    structure: Structure, oxidation_states: dict[str, float] | None, guesses: dict[str, dict[str, float]]
) -> Structure:
    """A copy of ``structure`` whose species carry oxidation states (see the module doc).

    ``guesses`` caches pymatgen's guesses by formula. Raises ValueError (the caller turns
    it into NaN rows) when an element has no state or no charge-balanced guess exists.
    """
    s = structure.copy()
    if oxidation_states is not None:
        s.remove_oxidation_states()
        missing = sorted({el.symbol for el in s.composition.elements} - set(oxidation_states))
        if missing:
            raise ValueError(f"oxidation_states gives no state for {', '.join(missing)}")
        s.add_oxidation_state_by_element(oxidation_states)
        return s
    if has_oxidation_states(s):
        return s
    formula = s.composition.formula
    if formula not in guesses:
        found = s.composition.oxi_state_guesses()
        guesses[formula] = dict(found[0]) if found else {}
    guess = guesses[formula]
    if not guess:
        raise ValueError(f"pymatgen finds no charge-balanced oxidation states for {formula}; "
                         f"pass the option oxidation_states={{...}}")
    if not any(guess.values()):  # pymatgen's guess for a metal or an element: all zero
        raise ValueError(f"pymatgen guesses zero charge on every ion of {formula} (a metal?); "
                         f"pass the option oxidation_states={{...}} if it is meant to be ionic")
    s.add_oxidation_state_by_element(guess)
    return s
