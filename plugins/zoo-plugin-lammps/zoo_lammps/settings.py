"""The options of the ``lammps`` source, checked: what they build once (specs, the pair
model) and what every call reads again (:class:`Settings`).

Inputs and outputs are zoo-atomistic's vocabulary. LAMMPS honours every structural kind
and the pair-potential kinds of its parametric styles (``epsilon``, ``sigma``; ``epsilon``,
``r0``, ``rho0``); its own Morse names ``D0`` and ``alpha`` are kinds of its own, kept for
old configs (with a DeprecationWarning).

The options are checked when the source is built and again when it is unpickled (an
executor ships it by pickle; a run folder may have been edited), so nothing unchecked ever
reaches a LAMMPS script (:mod:`zoo_lammps.safety`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any


from zoo import ConfigError, Spec
from zoo_atomistic.kinds import ATOMS, KINDS, LATTICE, OWN, POTENTIAL, Inputs, Kind, parse_inputs
from zoo_atomistic.quantities import Outputs, parse_outputs

from . import safety
from . import workdir as folders
from .pairs import deprecated, pair_model
from .parametric import PAIR_PARAMETERS
from .potentials import PairModel, PassThrough

#: LAMMPS's own Morse names, as input kinds of its own (deprecated)
OWN_KINDS = {
    "D0": Kind("D0", OWN, ("D0",), 1e-3, 5.0, "eV", "LAMMPS's Morse D0 (deprecated: the vocabulary's epsilon)"),
    "alpha": Kind("alpha", OWN, ("alpha",), 0.3, 5.0, "1/Å", "LAMMPS's Morse alpha (deprecated: rho0 = alpha r0)"),
}
HONOURED = tuple(k for k, kind in KINDS.items() if kind.group in (LATTICE, ATOMS, POTENTIAL))
OUTPUTS = ("energy", "energy_per_atom", "pressure", "stress", "forces", "volume", "volume_per_atom")


@dataclass(frozen=True)
class Setup:
    """What the options build: the resolved inputs and outputs, their specs, the pair model."""

    inputs: Inputs
    outputs: Outputs
    input_spec: Spec
    output_spec: Spec
    atoms_per_cell: int
    #: the input columns that are pair parameters (their names)
    params: tuple[str, ...]
    model: PairModel

    @property
    def n_atoms(self) -> int | None:
        return self.inputs.n_atoms

    @cached_property
    def columns(self) -> dict[str, slice]:
        """The input columns of each kind (asked for on every call: worked out once)."""
        return self.inputs.columns()


def setup(options: Mapping[str, Any], who: str) -> Setup:
    """Check the options and build what they describe (ConfigError on anything wrong)."""
    n_atoms = options.get("n_atoms")
    if n_atoms is not None:
        n_atoms = int(safety.number(n_atoms, "n_atoms"))
        if n_atoms < 1:
            raise ConfigError("n_atoms must be >= 1")
    inputs = parse_inputs(options.get("inputs"), n_atoms=n_atoms, honoured=HONOURED, extra=OWN_KINDS, who=who)
    params = tuple(k.name for k in inputs.kinds if k.group in (POTENTIAL, OWN))
    deprecated(params, "input")
    outputs = parse_outputs(options.get("outputs"), offered=OUTPUTS, n_atoms=n_atoms, who=who)
    apc = int(safety.number(options.get("atoms_per_cell"), "atoms_per_cell"))
    if apc < 1:
        raise ConfigError("atoms_per_cell must be >= 1 (4 for fcc, 2 for bcc)")
    model = pair_model(
        options.get("pair_style"), options.get("potential"), options.get("pair_coeff"),
        {k: options.get(k) for k in PAIR_PARAMETERS}, options.get("cutoff"), options.get("cutoff_scale"),
        options.get("shift"), params,
    )
    if isinstance(model, PassThrough) and options.get("elements") is None:
        raise ConfigError(
            "a passed-through pair_style needs elements=[...]: the element of atom type 1, 2, ... "
            "that its pair_coeff lines refer to"
        )
    spec = inputs.spec(options.get("lower"), options.get("upper"))
    return Setup(inputs, outputs, spec, outputs.spec(), apc, params, model)


@dataclass(frozen=True)
class Settings:
    """The options a call reads at run time, checked on every call: ``options`` is a plain
    dict that may have been changed since construction."""

    elements: tuple[str, ...] | None
    timeout: float
    workdir: str | None
    keep: bool
    #: one long-lived lmp per worker (True) or one lmp per call
    persistent: bool = True


def settings(options: Mapping[str, Any]) -> Settings:
    timeout = safety.number(options.get("timeout"), "timeout")
    if timeout <= 0:
        raise ConfigError(f"timeout must be > 0 seconds, got {timeout}")
    fixed = None
    if options.get("elements") is not None:
        fixed = safety.elements(options["elements"], "elements entry")
        if len(set(fixed)) != len(fixed):
            raise ConfigError(f"elements {list(fixed)} repeats an element")
    flags = {}
    # a source pickled before ``persistent`` existed has no such option: the default
    for name, default in (("keep_workdir", False), ("persistent", True)):
        flags[name] = options.get(name, default)
        if not isinstance(flags[name], bool):
            raise ConfigError(f"{name} must be true or false, got {safety.show(flags[name])}")
    return Settings(fixed, timeout, folders.parent(options.get("workdir")), flags["keep_workdir"],
                    flags["persistent"])


__all__ = ["HONOURED", "OUTPUTS", "OWN_KINDS", "Settings", "Setup", "settings", "setup"]
