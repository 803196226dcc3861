"""Every scenario file in ``scenarios/`` validates and runs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neurosim.model import default_slots
from neurosim.scenario import is_comparison, load_comparison, load_scenario
from neurosim.simulation import simulate_scenario

FOLDER = Path(__file__).resolve().parents[1] / "scenarios"
FILES = sorted(FOLDER.glob("*.toml"))
SCENARIOS = [p for p in FILES if not is_comparison(p)]
COMPARISONS = [p for p in FILES if is_comparison(p)]


def test_the_folder_has_the_scenarios_the_project_promises():
    names = {p.stem for p in SCENARIOS}
    assert {"baseline", "nsaid", "anti_il6", "anti_tnf", "anti_ngf", "morphine_fixed",
            "morphine_titrated", "oxycodone_child_pugh_b", "anti_ngf_opioid",
            "celiac_plexus_block", "brain_stimulation", "hypothetical_drug"} <= names
    assert COMPARISONS


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_runs_as_written(path):
    sc = load_scenario(path)
    assert sc.description and not sc.warnings
    res = simulate_scenario(sc)
    assert np.all(res.success), res.status_messages
    nrs = res["nrs"]
    assert np.all(np.isfinite(nrs)) and np.all((nrs >= 0) & (nrs <= 10))
    m = res.summary()
    assert np.isfinite(m["pain_auc"]) and np.isfinite(m["nrs_week12"])
    n_treatments = len(sc.plan.regimens) + len(sc.plan.procedures)
    untreated = np.all(res.slots[:, res.t >= 0, :] == default_slots(), axis=-1)
    # a treatment moves at least one slot away from its untreated value; none acts before
    assert np.all(np.all(res.slots[:, res.t < 0, :] == default_slots(), axis=-1))
    assert (not untreated.all()) == bool(n_treatments)


@pytest.mark.parametrize("path", COMPARISONS, ids=[p.stem for p in COMPARISONS])
def test_comparison_set_lists_valid_scenarios(path):
    _, _, paths = load_comparison(path)
    assert paths
    for p in paths:
        load_scenario(p)


def test_hypothetical_drug_needs_no_python():
    """The hypothetical drug exists only in its scenario file and acts through its slot."""
    from neurosim.treatments import load_library

    assert "trkanib" not in load_library().names
    sc = load_scenario(FOLDER / "hypothetical_drug.toml")
    res = simulate_scenario(sc.with_changes(duration="2 weeks", history="1 d"))
    trka = res["slot.trka"][0]
    assert trka[res.t < 0].min() == 1.0 and trka[res.t > 48].max() < 0.9
