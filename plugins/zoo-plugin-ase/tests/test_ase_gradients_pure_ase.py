"""The gradient tests of test_ase_gradients.py, run again on ASE's pure-Python EMT.

Where asap3 is installed, ``ase-emt`` (emt="auto") computes with asap3, so
test_ase_gradients.py checks zoo's estimators through asap3; this module imports the same
tests (every one, including any added later) and runs them with asap3 hidden from
``ase-emt``, i.e. on the ASE implementation. Without asap3 both modules would run the same
thing, so this one skips.
"""

from __future__ import annotations

import pytest

import zoo
from zoo_ase import calculators
from zoo_ase.asap_emt import asap3_version

from test_ase_gradients import *  # noqa: F403 - the tests and their fixtures, collected here again

pytestmark = pytest.mark.skipif(
    asap3_version() is None, reason="without asap3, test_ase_gradients.py already runs on ASE's EMT"
)


@pytest.fixture(scope="module", autouse=True)
def pure_ase_emt():
    """ase-emt's auto choice sees no asap3 for this module (module scope: before the
    module-scoped fixtures that build sources)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(calculators, "asap3_version", lambda: None)
        yield


def test_this_module_runs_on_ase():
    sks = zoo.knowledge_source("ase-emt")
    assert sks.implementation == "ase"
    assert sks.about()["emt"].endswith("(pure Python)")
