"""Task.sks_options gets the run's SKS name when it declares a parameter for it, and is
called without one when it does not (tasks written before the argument existed)."""

from __future__ import annotations

import zoo
from zoo.tasks import sks_options_for


class PerSource(zoo.Task):
    name = "per-source"

    def sks_options(self, sks=None):
        return {"pair_style": "morse"} if sks == "lammps" else {"smooth": True}


class Fixed(zoo.Task):
    name = "fixed"

    def sks_options(self):
        return {"inputs": "scale"}


def test_the_sks_name_reaches_a_task_that_asks_for_it():
    assert sks_options_for(PerSource(), "lammps") == {"pair_style": "morse"}
    assert sks_options_for(PerSource(), "ase-morse") == {"smooth": True}


def test_a_task_without_the_argument_is_called_without_it():
    assert sks_options_for(Fixed(), "lammps") == {"inputs": "scale"}


def test_the_base_task_asks_for_nothing_and_returns_a_fresh_dict():
    got = sks_options_for(zoo.Task(), "anything")
    assert got == {}
    got["x"] = 1
    assert sks_options_for(zoo.Task(), "anything") == {}
