"""The pair options of the ``lammps`` source, checked, and the pair model they make.

``pair_style`` (EAM by default), ``potential``, ``pair_coeff``, the pair-potential
parameters (zoo-atomistic's ``epsilon``, ``sigma``, ``r0``, ``rho0``; LAMMPS's deprecated
``D0``, ``alpha``), ``cutoff``, ``cutoff_scale`` and ``shift``. Without a ``pair_style``,
inputs that name a pair potential's parameters choose its force-shifted style
(``lj/smooth/linear``, ``morse/smooth/linear``): the vocabulary asks that a potential
whose parameters are inputs keep energy and pressure continuous as they move.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo import ConfigError

from . import safety
from .parametric import DEPRECATED, FAMILIES, Family, Parametric
from .potentials import EamFuncfl, EamSetfl, Links, PairModel, PassThrough, find_potential, setfl_elements

PARAMETRIC = tuple(style for fam in FAMILIES for style in fam.styles)
BUILTIN = ("eam", "eam/alloy", "eam/fs", *PARAMETRIC)


def pair_model(
    pair_style: Any,
    potential: Any,
    pair_coeff: Any,
    parameters: dict[str, Any],
    cutoff: Any,
    cutoff_scale: Any,
    shift: Any,
    params: tuple[str, ...],
) -> PairModel:
    """Check the pair options and build the model (ConfigError on anything wrong).

    ``parameters`` holds the pair-parameter options (None when not given); ``params`` names
    those that are model inputs instead.
    """
    given = {k: v for k, v in parameters.items() if v is not None}
    deprecated(given, "option")
    extras = {**given, "cutoff": cutoff, "cutoff_scale": cutoff_scale}
    if pair_coeff is not None:
        return _passthrough(pair_style, pair_coeff, params, potential=potential, **extras)
    style = _style(pair_style, params)
    if style not in BUILTIN:
        raise ConfigError(f"pair_style {style!r} is not built in ({', '.join(BUILTIN)}); pass it through "
                          f"with pair_coeff='...' (and elements=[...] to fix the atom types)")
    family = next((f for f in FAMILIES if style in f.styles), None)
    names = family.names if family else ()
    wrong = [p for p in params if p not in names]
    if wrong:
        owner = " or ".join(s for f in FAMILIES if wrong[0] in f.names for s in f.styles)
        raise ConfigError(f"inputs {wrong} are parameters of {owner or 'no built-in pair style'}; pair_style "
                          f"is {style!r}" + (f" (its parameters: {', '.join(names)})" if names else ""))
    if family is None:  # EAM
        _no_extras(f"pair_style {style}", **extras)
        return _eam(style, potential)
    _no_extras(f"pair_style {style}", potential=potential, **{k: v for k, v in given.items() if k not in names})
    cut, scale = _cutoff(family, cutoff, cutoff_scale)
    if not isinstance(shift, bool):
        raise ConfigError(f"shift must be true or false, got {shift!r}")
    return Parametric(style, params=params, family=family, fixed=_fixed(style, family, given, params),
                      cutoff=cut, cutoff_scale=scale, shift=shift)


def deprecated(names: Sequence[str] | dict[str, Any], where: str) -> None:
    """Warn once per call for LAMMPS's own Morse names among ``names``."""
    old = [n for n in names if n in DEPRECATED]
    if old:
        warnings.warn(
            f"lammps: the {where}(s) {old} are LAMMPS's Morse names; zoo's vocabulary names "
            f"the Morse parameters epsilon, r0, rho0 ({'; '.join(f'{n} -> {DEPRECATED[n]}' for n in old)})",
            DeprecationWarning, stacklevel=4,
        )


def _style(pair_style: Any, params: tuple[str, ...]) -> str:
    """The pair style: the option, else the one the input parameters name, else eam."""
    if pair_style is not None:
        return " ".join(safety.tokens(pair_style, "pair_style"))
    if not params:
        return "eam"
    fits = [f for f in FAMILIES if set(params) <= set(f.names)]
    if len(fits) != 1:
        raise ConfigError(f"inputs {list(params)} do not say which pair potential (they fit "
                          f"{' and '.join(f.potential for f in fits) or 'none'}); give pair_style=...")
    return fits[0].styles[-1]  # the force-shifted style: continuous as the parameters move


def _passthrough(pair_style: Any, pair_coeff: Any, params: tuple[str, ...], **extras: Any) -> PassThrough:
    if pair_style is None:
        raise ConfigError("pair_coeff needs the pair_style it belongs to: give pair_style='...'")
    style_tokens = safety.tokens(pair_style, "pair_style")
    if isinstance(pair_coeff, str):
        lines = [pair_coeff]
    elif isinstance(pair_coeff, (list, tuple)):
        lines = list(pair_coeff)
    else:
        raise ConfigError(f"pair_coeff must be a line or a list of lines, got {safety.show(pair_coeff)}")
    if not lines:
        raise ConfigError("pair_coeff is empty; give one or more pair_coeff lines")
    coeffs = [safety.tokens(line, "pair_coeff") for line in lines]
    _no_extras(f"pair_style {' '.join(style_tokens)} with pair_coeff", **extras)
    if params:
        raise ConfigError(
            f"inputs {list(params)} need a built-in parametric pair_style ({', '.join(PARAMETRIC)}) "
            f"without pair_coeff; a passed-through pair_style has no model-controlled parameters"
        )
    model = PassThrough("passthrough", style_tokens=style_tokens, coeff_tokens=coeffs)
    for tok in [*style_tokens, *(t for line in coeffs for t in line)]:
        model._tok(tok, _NoLinks())  # resolves and checks the file tokens now
    return model


def _eam(style: str, potential: Any) -> PairModel:
    if style == "eam":
        return EamFuncfl.from_option(potential)
    if not isinstance(potential, str):
        raise ConfigError(f"pair_style {style} needs potential='FILE' (one setfl file)")
    setfl_elements(find_potential(potential))
    return EamSetfl(style, file=safety.filename(potential, "potential"))


def _fixed(style: str, family: Family, given: dict[str, Any], params: tuple[str, ...]) -> dict[str, float]:
    """The parameters the options fix: each of the family's parameters comes from exactly
    one input or option (under one of its names)."""
    fixed = {}
    for slot in family.slots:
        inputs = [n for n in slot if n in params]
        options = [n for n in slot if n in given]
        if inputs and options:
            raise ConfigError(f"{inputs[0]} is an input; do not also give the option {options[0]}")
        if len(inputs) + len(options) > 1:
            raise ConfigError(f"give one of {' or '.join(slot)}, not both")
        if not inputs and not options:
            raise ConfigError(f"pair_style {style} needs {slot[0]}=... (or inputs including {slot[0]!r})")
        for key in options:
            fixed[key] = safety.number(given[key], key)
            zero_ok = key in ("epsilon", "D0")
            if fixed[key] < 0 or (fixed[key] == 0 and not zero_ok):
                raise ConfigError(f"{style} needs {key} {'>= 0' if zero_ok else '> 0'}, got {fixed[key]}")
    return fixed


def _cutoff(family: Family, cutoff: Any, cutoff_scale: Any) -> tuple[float | None, float]:
    """(cutoff in Å or None, cutoff in units of the length parameter)."""
    cut = None if cutoff is None else safety.number(cutoff, "cutoff")
    if cut is not None and cut <= 0:
        raise ConfigError(f"cutoff must be > 0 Å, got {cut}")
    scale = family.cutoff_scale
    if cutoff_scale is not None:
        if cut is not None:
            raise ConfigError(f"give cutoff (Å) or cutoff_scale (in units of {family.length}), not both")
        scale = safety.number(cutoff_scale, "cutoff_scale")
        if scale <= 0:
            raise ConfigError(f"cutoff_scale must be > 0, got {scale}")
    return cut, scale


class _NoLinks(Links):
    def __init__(self):
        self.names = {}

    def __call__(self, path: Path) -> str:
        return path.name


def _no_extras(context: str, **options: Any) -> None:
    given = sorted(k for k, v in options.items() if v is not None)
    if given:
        raise ConfigError(f"{context} does not use the option(s) {given}")


__all__ = ["BUILTIN", "PARAMETRIC", "deprecated", "pair_model"]
