"""docs/ase-calculator.md, the user's guide to ase-calculator, says what the code does: every
option is in its table, and its input and output tables carry the vocabulary's columns,
units and default bounds. (Its examples run in tests/test_docs.py.)"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from zoo_ase import mapping
from zoo_ase.generic import CalculatorSource
from zoo_atomistic import KINDS, QUANTITIES
from zoo_atomistic.kinds import STRUCTURAL

PAGE = Path(__file__).resolve().parents[3] / "docs" / "ase-calculator.md"


@pytest.fixture(scope="module")
def rows() -> dict[str, str]:
    """The page's table rows, by the name in their first cell."""
    if not PAGE.is_file():
        pytest.skip("docs/ase-calculator.md is not here (an installed package, not a checkout)")
    out: dict[str, str] = {}
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        if line.startswith("| `"):
            for name in re.findall(r"`([^`]+)`", line.split("|")[1]):  # "| `lower`, `upper` |"
                out.setdefault(name, line)
    return out


def test_every_option_is_in_the_options_table(rows):
    options = [p for p in inspect.signature(CalculatorSource.__init__).parameters if p != "self"]
    assert "fresh_calculator" in options and "structure" in options
    assert not [o for o in options if o not in rows], "options missing from docs/ase-calculator.md"


def bounds_text(lower, upper) -> str:
    lows, highs = (lower if isinstance(lower, tuple) else (lower,)), (upper if isinstance(upper, tuple) else (upper,))
    pairs = list(dict.fromkeys(zip(lows, highs)))
    if all(abs(lo) == float("inf") for lo, _ in pairs):
        return "none"
    return "; ".join(f"{lo:g} to {hi:g}" for lo, hi in pairs)


@pytest.mark.parametrize("name", [k for k, v in KINDS.items() if v.group in STRUCTURAL])
def test_each_structural_kind_has_its_columns_units_and_bounds(rows, name):
    kind = KINDS[name]
    cells = [c.strip() for c in rows[name].split("|")[1:-1]]
    columns = " ".join(c.format(i=0) for c in kind.columns)
    assert cells[1].strip("`").startswith(columns)
    units = ", ".join(dict.fromkeys(kind.units if isinstance(kind.units, tuple) else (kind.units,)))
    assert cells[2] == units
    assert cells[3] == bounds_text(kind.lower, kind.upper)


@pytest.mark.parametrize("name", mapping.OUTPUTS)
def test_each_output_has_its_units(rows, name):
    cells = [c.strip() for c in rows[name].split("|")[1:-1]]
    assert cells[2] == QUANTITIES[name].units
    assert cells[-1] == ("no" if name in mapping.CELL_OUTPUTS else "yes")
