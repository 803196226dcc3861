"""Write the example notebooks in ``examples/`` from the cells below.

The notebooks are stored without outputs. Each reads the environment
variable ``NEUROSIM_EXAMPLE_SIZE``: ``small`` runs it at the reduced size
used by the test suite (``tests/test_notebooks.py``); anything else (the
default) is the full teaching version.

Usage::

    python docs/scripts/build_example_notebooks.py          # rewrite examples/*.ipynb
    python docs/scripts/build_example_notebooks.py --check  # exit 1 if a notebook differs
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

SIZE_CELL = '''import os

# "small" is the reduced run of the test suite (fewer patients, fewer doses);
# anything else is the full teaching version.
SMALL = os.environ.get("NEUROSIM_EXAMPLE_SIZE", "full").lower() == "small"'''


def md(text: str):
    return ("markdown", text.strip("\n"))


def code(text: str):
    return ("code", text.strip("\n"))


# ----------------------------------------------------------------------------- 01

QUICKSTART = [
    md('''
# Quickstart: a scenario, a simulation, a plot

neurosim follows a liver tumor (hepatocellular carcinoma, HCC) from diagnosis
to advanced disease and computes, mechanism by mechanism, how much pain it
causes, and what drugs and procedures do to that pain in a patient whose liver
may be cirrhotic.

In this notebook you will:

1. load a ready-made **scenario** (a patient and a course of treatment),
2. **simulate** it and look at the result: a table of metrics and a plot,
3. get the numbers as **arrays** and **DataFrames**,
4. **build your own** scenario in Python and change the patient,
5. look up a **model parameter** (value, unit, range, source),
6. open the **interactive explorer**.

Every cell runs in a few seconds once the numerical kernels are compiled (the
very first simulation of a new installation compiles them: about half a minute).
'''),
    code(SIZE_CELL),
    code('''
import numpy as np
import matplotlib.pyplot as plt

import neurosim

neurosim.__version__'''),
    md('''
## 1. A scenario

A scenario is a TOML file with four parts: the **patient** (liver state, body
weight, model parameters), the **timeline** (when treatment starts, for how
long), the **treatments** and the **solver settings**. neurosim ships a set of
them; `load_scenario` takes a file path or the name of a packaged scenario.

`describe()` says in words what will be simulated. Note the timeline: the
patient is followed untreated from diagnosis until the first day their pain
reaches NRS 4 (moderate pain, when patients come to a clinic), and **all
treatment times count from that day**.
'''),
    code('''
sc = neurosim.load_scenario("morphine_titrated")
print(sc.describe())'''),
    md('''
## 2. Simulate

`simulate_scenario` runs the natural history up to treatment start, then the
treated weeks. The result shows its key metrics when it is the last line of a
cell: the NRS at treatment start (the baseline), pain in week 4 and week 12,
the share of time with moderate pain, the IMMPACT responder rate (at least
30 % less pain in the last week than at baseline), the morphine milligram
equivalents per day (MME) and the opioid side-effect burden.
'''),
    code('''
res = neurosim.simulate_scenario(sc)
res'''),
    md('''
`plot()` draws the NRS (black) and, stacked under it, its four mechanistic
components; it returns the matplotlib Axes so you can add to it. Time 0 is the
start of treatment; the weeks before it are the untreated history.

What to look at: the first doses act within hours and pain drops below 4.
Over the following weeks it creeps back up, because tolerance to the opioid
builds and the tumor keeps growing; once it is above 4 again, the daily
titration raises the dose step by step to hold it there. The **central**
component (pain amplified in the spinal cord and brain) is a large share and
changes slowly.
'''),
    code('''
ax = res.plot()
ax.set_title("Oral morphine titrated to NRS <= 4")
print(f"treatment started on day {res.treatment_start[0] / 24:.0f} after diagnosis")'''),
    md('''
## 3. The numbers

`res.t` is in hours from treatment start (`res.t_days`, `res.t_weeks` in other
units). Outputs, model states and treatment slots are read by name; each has
shape `(patients, times)`. `res.names` lists them all.
'''),
    code('''
print(len(res.names), "names, for example:", res.names[:8])
nrs = res["nrs"]
print("shape", nrs.shape, "unit", res.unit("nrs"))

fig, ax = plt.subplots(figsize=(8, 3))
ax.plot(res.t_days, res["morphine.dose_multiplier"][0], label="dose multiplier (titration)")
ax.plot(res.t_days, 1 + res["opioid_tolerance"][0], label="potency shift from tolerance, 1 + T")
ax.set_xlabel("days since treatment start")
ax.legend()
ax.set_title("Why the dose keeps rising: tolerance");'''),
    md('''
`metrics()` gives every metric per patient as arrays; with pandas installed,
`metrics_dataframe()` and `to_dataframe()` give tables (units in `df.attrs`).
'''),
    code('''
m = res.metrics_dataframe()
m.T'''),
    code('''
df = res.to_dataframe(["nrs", "nrs_central", "plasma_il6", "plasma_ngf"])
weekly = df[(df.t_days >= 0) & (df.t_days % 7 == 0)]
weekly.head(8)'''),
    md('''
## 4. Your own scenario

In Python the same settings are keywords, with the same strings as in a file
(quantities with units). `with_changes` makes a variant. Here the same
patient gets a fixed dose of oxycodone, once with a healthy liver and once in
Child-Pugh B cirrhosis; `plot_trajectories` puts several results on one Axes.
'''),
    code('''
from neurosim.comparison import plot_trajectories
from neurosim.scenario import Scenario

mine = Scenario(name="oxycodone, healthy liver", regimens=["oxycodone 10 mg po q6h"],
                duration="8 weeks")
mine_b = mine.with_changes(name="oxycodone, Child-Pugh B", liver="child_pugh_b")
results = [neurosim.simulate_scenario(s) for s in (mine, mine_b)]
fig, ax = plt.subplots(figsize=(9, 4))
plot_trajectories(results, ax, title="Same regimen, two livers")
results'''),
    md('''
The patient is changed through model parameters. A tumor that doubles in 60
days instead of the default (about four and a half months) reaches moderate
pain sooner; compare the treatment start days.
'''),
    code('''
fast = mine.with_changes(name="fast-growing tumor", parameters={"tumor_doubling_time": "60 d"})
res_fast = neurosim.simulate_scenario(fast)
for r in (results[0], res_fast):
    print(f"{r.name:28s} treatment starts on day {r.treatment_start[0] / 24:4.0f}, "
          f"baseline NRS {r.nrs_baseline[0]:.2f}")'''),
    md('''
## 5. Parameters, described in place

Every model parameter has a value, a unit, a plausible range, a
between-patient variability and a source. Show one, or a whole module, as a
table.
'''),
    code('''
from neurosim.model import PARAMETERS, ParameterTable

PARAMETERS["tumor_doubling_time"]'''),
    code('''
ParameterTable(PARAMETERS.select(module="central"))'''),
    md('''
## 6. Save and reload

Results files are self-describing HDF5 (the scenario text, units, the
neurosim version, the seed). `read_results` gives back the same object.
'''),
    code('''
import tempfile
from pathlib import Path

folder = Path(tempfile.mkdtemp(prefix="neurosim-quickstart-"))
res.to_hdf5(folder / "morphine_titrated.h5")
again = neurosim.read_results(folder / "morphine_titrated.h5")
print(again)
assert np.array_equal(again["nrs"], res["nrs"])'''),
    md('''
## 7. The explorer

`explore()` opens sliders for the patient (tumor growth, inflammation, NGF,
liver state) and up to two drugs and a procedure. Each change re-simulates
the treated weeks and redraws the pain (black: with treatment, grey: without)
and its components. A combination that makes no sense (a dose outside the
drug's usual range, an interval the drug is not given at, more paracetamol
per day than the liver allows) is explained in the status line instead of
simulated.

Move the sliders in a live notebook; from code, `set()` does the same.
'''),
    code('''
from neurosim.notebook import explore

ex = explore()
ex'''),
    code('''
ex.set(drug1="tanezumab")          # anti-NGF: watch the NGF component fall over weeks
print(ex.message)
ex.set(dose1=500)                  # far outside tanezumab's doses: a message, not a traceback
print(ex.message)'''),
    md('''
## Where next

* `02_why_pain_outgrows_the_tumor.ipynb`: the mechanisms behind the components.
* `03_comparing_treatments.ipynb`: every standard treatment in the same patients.
* `04_cirrhosis_and_opioids.ipynb`: how the liver changes opioid exposure.
* `05_virtual_trial_and_biomarkers.ipynb`: a virtual trial and who responds.
* `06_design_your_own_drug.ipynb`: a hypothetical drug written as data.

`docs/tutorial.md` lays out the whole path, including the command line.
'''),
]

# ----------------------------------------------------------------------------- 02

MECHANISMS = [
    md('''
# Why pain outgrows the tumor

Pain in liver cancer used to be explained by the mass itself: the tumor
stretches the liver capsule. Patients, however, often hurt more than their
tumor size suggests. neurosim builds pain from four mechanisms, each a chain
of named biological processes:

| component | mechanism |
| --- | --- |
| **mechanical** | the tumor stretches Glisson's capsule |
| **inflammatory** | macrophages, TNF-alpha/IL-1beta, IL-6 and prostaglandin E2 activate and sensitize nociceptors |
| **NGF** | nerve growth factor makes fibers sprout into the tumor margin and sensitizes them (TrkA, TRPV1) |
| **central** | sustained input sensitizes the spinal cord and brainstem, which then amplify (and partly generate) pain |

![causal diagram](../docs/figures/causal_diagram.png)

This notebook follows the default patient from diagnosis, opens up each
mechanism, then uses a virtual population to show why pain tracks
inflammation and NGF more closely than tumor size.
'''),
    code(SIZE_CELL),
    code('''
import numpy as np
import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter
from scipy.stats import spearmanr

from neurosim.model import PARAMETERS, experiments

MONTHS = 18
N_POPULATION = 200 if SMALL else 1000'''),
    md('''
## 1. The natural history of one patient

`experiments.natural_history` simulates the untreated disease of the default
patient: a 20 mL tumor (3.4 cm) at diagnosis in a typically inflamed
cirrhotic liver. Watch the two curves: the tumor grows steadily, pain rises
slowly at first and then faster.
'''),
    code('''
nh = experiments.natural_history(months=MONTHS)
s = nh.series
month = nh.t / (24 * 365.25 / 12)

fig, ax = plt.subplots(figsize=(8, 4))
ax.plot(month, s["nrs"], color="black", lw=2, label="pain (NRS)")
ax.axhline(4, color="0.6", ls=":")
ax.set_xlabel("months since diagnosis")
ax.set_ylabel("NRS (0-10)")
ax2 = ax.twinx()
ax2.plot(month, s["tumor_diameter"], color="tab:brown", label="tumor diameter")
ax2.set_ylabel("tumor diameter (cm)", color="tab:brown")
ax.set_title("Untreated course of the default patient")
ax.legend(loc="upper left");'''),
    md('''
## 2. Four components

The NRS is split into the share each mechanism is responsible for (the share
that would go if that mechanism alone were removed, scaled so the four add up
to the NRS). Stacked, they show which mechanism dominates when.
'''),
    code('''
parts = ["nrs_mechanical", "nrs_inflammatory", "nrs_ngf", "nrs_central"]
labels = ["mechanical (capsule)", "inflammatory", "NGF (nerve growth)", "central"]

fig, ax = plt.subplots(figsize=(8, 4))
ax.stackplot(month, *[s[p] for p in parts], labels=labels, alpha=0.75)
ax.plot(month, s["nrs"], color="black", lw=1.2)
ax.set_xlabel("months since diagnosis")
ax.set_ylabel("NRS share")
ax.legend(loc="upper left")
ax.set_title("What the pain is made of");

for m in (0, 6, 12, MONTHS):
    i = int(np.argmin(abs(month - m)))
    shares = ", ".join(f"{lab.split()[0]} {s[p][i]:.2f}" for p, lab in zip(parts, labels))
    print(f"month {m:2d}: NRS {s['nrs'][i]:.2f} = {shares}")'''),
    md('''
Question to answer from the printout: at the last month, is the mechanical
share (the tumor pressing on the capsule) the largest part of the pain? The
rest comes from mechanisms that the tumor only sets in motion.

## 3. Inside the mechanisms

The same run holds every intermediate quantity. Plasma biomarkers are what a
clinician can measure; fiber density and sensitization are what the nerves
do; the central sensitization index is the state of the spinal cord.
'''),
    code('''
fig, axes = plt.subplots(2, 2, figsize=(10, 6), sharex=True)
panels = [
    (["plasma_il6", "plasma_tnf", "plasma_ngf"], "plasma level (pg/mL)", "biomarkers"),
    (["fiber_density"], "relative to basal", "nerve fibers (NGF-driven sprouting)"),
    (["peripheral_sensitization"], "gain", "peripheral sensitization"),
    (["central_sensitization_index", "capsule_stretch"], "0-1", "central sensitization and capsule stretch"),
]
for ax, (names, unit, title) in zip(axes.flat, panels):
    for n in names:
        ax.plot(month, s[n], label=n)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(unit)
    ax.legend(fontsize=8)
for ax in axes[1]:
    ax.set_xlabel("months since diagnosis")
fig.tight_layout()'''),
    md('''
## 4. Pain that persists: central sensitization

Central sensitization builds over days and decays over weeks, and it
reinforces itself through the brainstem (descending facilitation). So when
the input from the periphery is cut, pain falls at once, but not to the level
the same input gave on the way up: the spinal cord remembers.

`experiments.drive_removal` halves peripheral transmission at month 9 and
holds it, then compares the pain with the pain the patient had, on the way
up, at the same input.
'''),
    code('''
dr = experiments.drive_removal(at_month=9, afferent=0.5, follow_weeks=16)
weeks = (dr.t - dr.t[0]) / 168
fig, ax = plt.subplots(figsize=(8, 4))
ax.plot(weeks, dr.series["nrs"], color="black", label="after halving the input")
ax.plot(weeks, dr.series["nrs_same_drive_up"], color="0.5", ls="--",
        label="on the way up, same input")
ax.fill_between(weeks, dr.series["nrs_same_drive_up"], dr.series["nrs"], color="tab:purple",
                alpha=0.25, label="held by central sensitization")
ax.axhline(dr.summary["nrs_before_cut"], color="tab:red", ls=":", label="just before the cut")
ax.set_xlabel("weeks after the cut")
ax.set_ylabel("NRS")
ax.legend(loc="center right")
ax.set_title("Hysteresis: the spinal cord remembers");
print({k: round(v, 2) for k, v in dr.summary.items() if k.startswith("excess")})'''),
    md('''
The same memory makes late disease harder to treat: the same cut in the
peripheral drive relieves a smaller share of the pain when it comes late.
'''),
    code('''
rs = experiments.relief_by_stage(months=(4.0, 12.0))
for m in (4, 12):
    print(f"cut at month {m:2d}: relief {rs.summary[f'relief_percent_m{m}']:.0f} % of the untreated NRS "
          f"({rs.summary[f'relief_points_m{m}']:.2f} points)")'''),
    md('''
## 5. Disproportionate pain in a virtual population

Patients differ: in how fast the tumor grows, how much it recruits
macrophages and secretes NGF, how inflamed the liver already is, how easily
the spinal cord sensitizes. `experiments.population_correlations` draws a
virtual population (each parameter from a lognormal around its table value,
with the table's between-patient CV) and compares, six months after
diagnosis, the rank correlation of pain with tumor volume and with the plasma
markers.
'''),
    code('''
pc = experiments.population_correlations(n=N_POPULATION, month=6.0, seed=20240611)
ser = pc.series
fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
for ax, key, label in zip(axes, ["tumor_volume", "plasma_il6", "plasma_ngf"],
                          ["tumor volume (mL)", "plasma IL-6 (pg/mL)", "plasma NGF (pg/mL)"]):
    rho = spearmanr(ser["nrs"], ser[key])[0]
    ax.scatter(ser[key], ser["nrs"], s=6, alpha=0.4)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(label)
    ax.set_title(f"Spearman rho = {rho:.2f}", fontsize=10)
axes[0].set_ylabel("NRS at month 6")
fig.suptitle(f"{len(ser['nrs'])} virtual patients, six months after diagnosis")
fig.tight_layout()
print({k: round(v, 2) for k, v in pc.summary.items() if k.startswith("rho")})'''),
    md('''
Which correlates more strongly with pain: the size of the tumor or the
markers of inflammation and NGF? That is the "disproportionate pain" finding
of the clinical literature, reproduced by mechanism.

## 6. Two patients, same tumor, different pain

Pick, in the same population, two patients whose tumors are within 10 % of
each other in volume but whose pain differs the most, and ask which of their
parameters differ.
'''),
    code('''
from neurosim.model import sample_population, simulate

pop = sample_population(N_POPULATION, seed=20240611)
t6 = np.array([0.0, 6 * 24 * 365.25 / 12])
sim = simulate(t6, pop)
nrs6 = sim.outputs(["nrs"])["nrs"][:, -1]
vol6 = sim["tumor_volume"][:, -1]

order = np.argsort(vol6)
best = (0.0, 0, 0)
for a, b in zip(order[:-1], order[1:]):     # neighbours in tumor volume
    if vol6[b] <= 1.1 * vol6[a] and abs(nrs6[a] - nrs6[b]) > best[0]:
        best = (abs(nrs6[a] - nrs6[b]), a, b)
_, a, b = best
lo, hi = (a, b) if nrs6[a] < nrs6[b] else (b, a)
print(f"patient {lo}: tumor {vol6[lo]:.0f} mL, NRS {nrs6[lo]:.2f}")
print(f"patient {hi}: tumor {vol6[hi]:.0f} mL, NRS {nrs6[hi]:.2f}")

ratio = pop[hi] / pop[lo]
names = np.array(PARAMETERS.names)
top = np.argsort(-np.abs(np.log(ratio)))[:6]
for k in top:
    row = PARAMETERS[names[k]]
    print(f"  {row.name:30s} x{ratio[k]:5.2f}  ({row.module}: {row.description[:60]}...)")'''),
    md('''
The parameters that separate them are usually not about the tumor's size but
about what the tumor and the liver *do*: macrophage recruitment, NGF and
cytokine secretion, the sensitivity of the nerves and of the spinal cord.

## Try it

* Change `month` in `population_correlations` to 3 or 12: does the tumor
  size catch up later in the disease?
* In the explorer (`from neurosim.notebook import explore; explore()`), move
  *tumor NGF* and *liver inflammation* and watch which component changes.
'''),
]

# ----------------------------------------------------------------------------- 03

COMPARING = [
    md('''
# Comparing treatments

Each treatment in neurosim acts on a named process (a *slot*): opioids on
spinal transmission, an NSAID on COX-2, anti-IL-6 and anti-TNF antibodies on
cytokine signalling, anti-NGF on free NGF, a celiac plexus block on afferent
transmission, brain stimulation on the supraspinal gain. So each one removes
a different part of the pain, at its own speed.

Here every standard intervention of the packaged comparison set is given to
**the same virtual patients**, so differences are due to the treatments only.
'''),
    code(SIZE_CELL),
    code('''
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt

import neurosim
from neurosim.comparison import (plot_comparison, plot_component_grid, summary_rows,
                                 TABLE_COLUMNS)
from neurosim.model import sample_population
from neurosim.scenario import load_comparison

N_PATIENTS = 3 if SMALL else 60'''),
    md('''
## 1. The comparison set and the patients

`load_comparison` reads the list of scenarios. `sample_population` draws the
patients once; passing the same matrix to every simulation puts the same
people through each arm. A `history_cache` dictionary lets the untreated
course up to treatment start, which does not depend on the treatment, be
solved only once.
'''),
    code('''
name, description, paths = load_comparison("compare_standard")
scenarios = [neurosim.load_scenario(p) for p in paths]
print(description)
for s in scenarios:
    print(f"  {s.name:24s} {s.description}")

patients = sample_population(N_PATIENTS, seed=7)
cache = {}
results = [neurosim.simulate_scenario(s, patients=patients, history_cache=cache)
           for s in scenarios]
by_name = {r.name: r for r in results}'''),
    md('''
## 2. The table

`summary_rows` gives one row per scenario (means over patients; responder
rates as fractions). Pain AUC is the area under the NRS curve over 12 weeks:
smaller is better.
'''),
    code('''
rows = pd.DataFrame(summary_rows(results)).set_index("scenario")
cols = [c[0] for c in TABLE_COLUMNS]
rows[cols].sort_values("pain_auc").round(2)'''),
    md('''
## 3. Trajectories and components

Top: the median NRS of each arm. Bottom: the same split into the four
mechanistic components. Look for:

* **speed**: opioids, the NSAID and the nerve block act within hours, the
  antibodies against cytokines within hours (intravenous) to days (under the
  skin), anti-NGF over weeks;
* **which component moves**: the NSAID and anti-cytokine drugs take out the
  inflammatory share, anti-NGF the NGF share, the block everything
  peripheral (but not all the central share);
* **durability**: the block wears off over months, fixed-dose opioids lose
  effect as tolerance builds.
'''),
    code('''
plot_comparison(results, fig=plt.figure(figsize=(13, 8)));'''),
    code('''
plot_component_grid(results, fig=plt.figure(figsize=(13, 7.8)), ncols=4);'''),
    md('''
## 4. How fast does each treatment work?

Relief is measured against the untreated arm in the same patients. For each
treatment, the time at which the median relief first reaches half of its
largest value tells apart fast and slow mechanisms.
'''),
    code('''
base = by_name["baseline"]
after = base.t >= 0
rows_speed = []
for r in results:
    if r.name == "baseline":
        continue
    relief = np.median(base["nrs"] - r["nrs"], axis=0)[after]
    t_days = r.t_days[after]
    peak = relief.max()
    half = t_days[np.argmax(relief >= 0.5 * peak)] if peak > 0 else np.nan
    rows_speed.append({"scenario": r.name, "largest relief (NRS points)": peak,
                       "days to half of it": half,
                       "relief at week 12": relief[-1]})
speed = pd.DataFrame(rows_speed).set_index("scenario").sort_values("days to half of it")
speed.round(2)'''),
    code('''
fig, ax = plt.subplots(figsize=(9, 4))
for r in results:
    if r.name == "baseline":
        continue
    ax.plot(r.t_days[after], np.median(base["nrs"] - r["nrs"], axis=0)[after], label=r.name)
ax.set_xscale("symlog", linthresh=1)
ax.set_xlabel("days since treatment start (log scale after day 1)")
ax.set_ylabel("relief vs untreated (NRS points)")
ax.legend(fontsize=7, ncol=2)
ax.set_title("Hours, days or weeks: each mechanism has its own time scale");'''),
    md('''
## 5. Responders

The IMMPACT convention counts a patient as a responder when pain in the last
week is at least 30 % (moderate) or 50 % (substantial) below the pain at
treatment start. Patients get worse untreated (the tumor grows), so some
treatments slow the rise of pain without producing responders.
'''),
    code('''
resp = rows[["responder_30", "responder_50"]].sort_values("responder_30")
fig, ax = plt.subplots(figsize=(7, 4))
resp.plot.barh(ax=ax)
ax.set_xlabel("share of patients")
ax.set_title(f"IMMPACT responders, {N_PATIENTS} virtual patients");'''),
    md('''
## Try it

* Build a combination and add it to the list, e.g.
  `neurosim.scenario.Scenario(name="nsaid + block", regimens=["celecoxib 200 mg po bid"],
  procedures=[{"procedure": "celiac_plexus_neurolysis", "at": "0 d"}])`,
  simulated with the same `patients` and `cache`.
* Start the block later (`"at": "28 d"`): does it still work as well once
  central sensitization has grown?
* The same comparison from the command line:
  `neurosim compare compare_standard --patients 60 -o cmp/`.
'''),
]

# ----------------------------------------------------------------------------- 04

CIRRHOSIS = [
    md('''
# Cirrhosis and opioids

Most liver cancers grow in a cirrhotic liver. A cirrhotic liver clears drugs
more slowly and lets more of an oral dose escape first-pass extraction,
because blood bypasses the hepatocytes through shunts. For opioids this means
more exposure from the same dose: more relief, but also more sedation and
respiratory depression, and a higher risk of hepatic encephalopathy.

neurosim models the liver as physiology (blood flow, shunting, metabolic
capacity, albumin, renal function) rather than as a table of drug factors,
and calibrates it on morphine only. This notebook shows what follows for
exposure, side effects and titrated doses.
'''),
    code(SIZE_CELL),
    code('''
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt

import neurosim
from neurosim.scenario import Scenario
from neurosim.treatments import disposition, load_library, load_liver_states

LIVERS = ["healthy", "child_pugh_a", "child_pugh_b", "child_pugh_c"]
N_PATIENTS = 6 if SMALL else 100'''),
    md('''
## 1. The liver states

Each state is a handful of physiological quantities. Shunting rises and
metabolic capacity falls from Child-Pugh A to C.
'''),
    code('''
states = load_liver_states()
pd.DataFrame({name: {"hepatic blood flow (L/h, 70 kg)": st.q_h(70.0),
                     "shunt fraction": st.shunt,
                     "intrinsic clearance factor": st.clint_factor,
                     "albumin (g/dL)": st.albumin.value,
                     "renal function": st.renal}
              for name, st in states.items()}).round(3)'''),
    md('''
## 2. What follows for each opioid

From a drug's healthy numbers (clearance, hepatic share, unbound fraction)
the liver model derives its clearance and oral bioavailability in each
state. A **high-extraction** drug (morphine, hydromorphone) loses most of an
oral dose in a healthy liver, so shunting raises its bioavailability steeply;
a **low-extraction** drug (oxycodone) changes less by that route.
'''),
    code('''
lib = load_library()
rows = []
for drug, route in [("morphine", "po"), ("hydromorphone", "po"), ("oxycodone", "po"),
                    ("fentanyl", "td")]:
    healthy = disposition(lib.drug(drug), "healthy")
    for liver in LIVERS:
        d = disposition(lib.drug(drug), liver)
        rows.append({"drug": f"{drug} ({route})", "liver": liver,
                     "bioavailability": d.route_f[route],
                     "clearance (L/h)": d.cl,
                     "half-life (h)": d.terminal_half_life(),
                     "exposure per dose vs healthy": d.auc_per_mg(route) / healthy.auc_per_mg(route)})
pk = pd.DataFrame(rows).set_index(["drug", "liver"])
pk.round(2)'''),
    md('''
## 3. The same morphine regimen in four livers

The default patient gets oral morphine 10 mg every 4 h, never adjusted.
Everything but the liver is the same, so the untreated course is the same
(one `history_cache` serves all four runs).
'''),
    code('''
fixed = Scenario(name="morphine 10 mg q4h", regimens=["morphine 10 mg po q4h"])
cache = {}
by_liver = {liver: neurosim.simulate_scenario(fixed.with_changes(liver=liver), history_cache=cache)
            for liver in LIVERS}

fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
first_days = by_liver["healthy"].t_days
win = (first_days >= 0) & (first_days <= 3)
for liver, r in by_liver.items():
    axes[0].plot(r.t_days[win], r["morphine.ce"][0, win], label=liver)
    axes[1].plot(r.t_weeks, r["sedation"][0], label=liver)
    axes[2].plot(r.t_weeks, r["nrs"][0], label=liver)
axes[0].set(title="morphine at the effect site, first 3 days", xlabel="days", ylabel="mg/L")
axes[1].set(title="sedation score", xlabel="weeks", ylabel="0-1")
axes[2].set(title="pain", xlabel="weeks", ylabel="NRS")
axes[0].legend(fontsize=8)
fig.tight_layout()'''),
    code('''
table = pd.DataFrame({liver: r.summary() for liver, r in by_liver.items()}).T
table[["mme_per_day", "nrs_week4", "nrs_week12", "sedation", "side_effect_burden",
       "he_hazard_ratio"]].round(3)'''),
    md('''
Notice the first column: **MME per day is the same in every liver**, because
morphine milligram equivalents count the dose given, not the exposure it
produces. In cirrhosis the same MME means more drug at the receptor: more
relief and more sedation. The last column is the hazard ratio of hepatic
encephalopathy for this duration of opioid use (Moon 2020); it is 1 without
cirrhosis.

## 4. Titration finds lower doses in cirrhosis

When the dose is titrated to pain (raised by 25 % per day while NRS > 4),
a patient with a cirrhotic liver reaches the target with less drug. Here a
small virtual population is titrated in each liver state.
'''),
    code('''
from neurosim.model import sample_population

titrated = neurosim.load_scenario("morphine_titrated")
patients = sample_population(N_PATIENTS, seed=11)
cache = {}
tit = {liver: neurosim.simulate_scenario(titrated.with_changes(liver=liver), patients=patients,
                                         history_cache=cache)
       for liver in LIVERS}

fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for liver, r in tit.items():
    mult = np.median(r["morphine.dose_multiplier"], axis=0)
    axes[0].plot(r.t_weeks, mult, label=liver)
    m = r.metrics()
    axes[1].scatter(m["mme_per_day"], m["sedation"], s=12, label=liver)
axes[0].set(title="median titration multiplier", xlabel="weeks", ylabel="x starting dose")
axes[1].set(title="each patient: dose vs sedation", xlabel="MME per day", ylabel="mean sedation")
axes[0].legend(fontsize=8)
fig.tight_layout()

pd.DataFrame({liver: r.summary() for liver, r in tit.items()}).T[
    ["mme_per_day", "nrs_week12", "responder_30", "sedation", "opioid_days"]].round(2)'''),
    md('''
## 5. Safety rules that come with the liver

Some rules are not about exposure but about harm the model does not simulate
(kidney injury, bleeding, liver toxicity). They are part of the drug library
and are raised when a scenario is compiled:

* NSAIDs carry a renal and bleeding risk in cirrhosis (a flag in Child-Pugh B/C),
* paracetamol has a lower daily maximum in cirrhosis,
* opioids raise the hazard of hepatic encephalopathy (shown above).
'''),
    code('''
nsaid_b = Scenario(name="celecoxib in Child-Pugh B", liver="child_pugh_b",
                   regimens=["celecoxib 100 mg po bid"], duration="2 weeks")
for flag in nsaid_b.plan.safety_report(nsaid_b.duration):
    print(f"{flag['severity']:>8s}: {flag['message']}  [{flag['source']}]")

para_c = Scenario(liver="child_pugh_c", regimens=["paracetamol 1 g po q6h"], duration="1 week")
for flag in para_c.plan.safety_report(para_c.duration):
    print(f"{flag['severity']:>8s}: {flag['message']}")'''),
    md('''
## Try it

* Compare oxycodone with morphine in Child-Pugh C (`"oxycodone 10 mg po q6h"`):
  which one's exposure changes more, and why (look at their extraction in the
  table of section 2)?
* Try a transdermal fentanyl patch (`"fentanyl 25 ug/h td patch q72h"`): no
  first pass, so only the clearance change remains.
* In the explorer, pick *Child-Pugh C* and raise the morphine dose: the
  side-effect burden in the table grows faster than the relief.
'''),
]

# ----------------------------------------------------------------------------- 05

TRIAL = [
    md('''
# A virtual trial and its biomarkers

A virtual trial puts a virtual population through two arms. Because both arms
are the *same* patients, neurosim knows what a real trial never can: each
patient's own treatment effect (pain on the drug minus pain without it). That
makes it a good place to ask which baseline biomarkers predict who benefits.

The trial here: an anti-NGF antibody (tanezumab 10 mg under the skin every 8
weeks) against no analgesic treatment, in patients enrolled on the first day
their pain reaches NRS 4, followed for 12 weeks.
'''),
    code(SIZE_CELL),
    code('''
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from scipy.stats import spearmanr

import neurosim
from neurosim.model import sample_population
from neurosim.scenario import Scenario

N_PATIENTS = 40 if SMALL else 500
N_BOOT = 200 if SMALL else 2000'''),
    md('''
## 1. Enrolment

Each patient starts treatment on their own presentation day. Patients whose
pain never reaches NRS 4 within five years are not enrolled
(`presented` is False); the analysis keeps only the enrolled ones.
'''),
    code('''
patients = sample_population(N_PATIENTS, seed=2024)
common = dict(duration="12 weeks", history="1 week", output_interval="6 h", save_states=False)
control = Scenario(name="control", **common)
active = Scenario(name="tanezumab 10 mg q8w", regimens=["tanezumab 10 mg sc q8w"], **common)

cache = {}
res_c = neurosim.simulate_scenario(control, patients=patients, history_cache=cache)
res_a = neurosim.simulate_scenario(active, patients=patients, history_cache=cache)
enrolled = res_c.presented & res_c.success & res_a.success
print(f"{enrolled.sum()} of {N_PATIENTS} patients enrolled")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
axes[0].hist(res_c.treatment_start[enrolled] / 24 / 30.44, bins=20)
axes[0].set(xlabel="months from diagnosis to enrolment", ylabel="patients")
axes[1].hist(res_c.nrs_baseline[enrolled], bins=20)
axes[1].set(xlabel="NRS at enrolment", ylabel="patients")
fig.tight_layout()'''),
    md('''
## 2. The endpoints

The primary endpoint is the mean NRS in week 12, compared between the arms;
the secondary one is the IMMPACT moderate response (at least 30 % less pain
in week 12 than at enrolment). Untreated pain keeps rising as the tumor
grows, so a drug can hold pain well below the control arm without bringing
it 30 % below where it started. A bootstrap over patients gives intervals.
'''),
    code('''
mc = res_c.metrics_dataframe()[enrolled]
ma = res_a.metrics_dataframe()[enrolled]
rng = np.random.default_rng(1)
idx = rng.integers(0, len(ma), size=(N_BOOT, len(ma)))


def bootstrap(col):
    """Difference of arm means (tanezumab - control) and its 95 % bootstrap interval."""
    a, c = ma[col].to_numpy(), mc[col].to_numpy()
    draws = a[idx].mean(1) - c[idx].mean(1)
    return a.mean() - c.mean(), *np.percentile(draws, [2.5, 97.5])


for col, label in (("nrs_week12", "mean NRS in week 12"), ("responder_30", "responder rate")):
    d, lo, hi = bootstrap(col)
    print(f"{label:20s}: control {mc[col].mean():.2f}, tanezumab {ma[col].mean():.2f}; "
          f"difference {d:+.2f} (95 % interval {lo:+.2f} to {hi:+.2f})")
pd.DataFrame({"control": mc.mean(), "tanezumab": ma.mean()}).loc[
    ["nrs_baseline", "nrs_week4", "nrs_week12", "pain_auc", "responder_30", "responder_50"]].round(2)'''),
    md('''
The bootstrap resamples the same patients in both arms (one `idx` for
both), so its intervals are paired. The closed-form paired intervals that
`neurosim effects` reports (`docs/effects.md`) should agree with it: the
paired t interval for the mean NRS, and Newcombe's interval for the
responder rate, built from the patients who respond in one arm only.
'''),
    code('''
from neurosim.analysis.effects import paired_mean_difference, paired_rate_difference

d_t, lo_t, hi_t, _, n_t = paired_mean_difference(ma["nrs_week12"], mc["nrs_week12"])
print(f"mean NRS in week 12: {d_t:+.2f} (paired t interval {lo_t:+.2f} to {hi_t:+.2f}, "
      f"{n_t} patients)")
d_r, lo_r, hi_r, _, _, only_a, only_c = paired_rate_difference(ma["responder_30"],
                                                                mc["responder_30"])
print(f"responder rate:      {d_r:+.2f} (Newcombe interval {lo_r:+.2f} to {hi_r:+.2f}; "
      f"{only_a} respond on tanezumab only, {only_c} on control only)")'''),
    md('''
## 3. Each patient's own effect

In silico, every patient has both outcomes. The individual effect is the
reduction in mean NRS over week 12 caused by the drug. Its spread is the
heterogeneity a real trial sees only as noise.
'''),
    code('''
effect = (mc["nrs_week12"] - ma["nrs_week12"]).to_numpy()
fig, ax = plt.subplots(figsize=(7, 3.2))
ax.hist(effect, bins=25)
ax.axvline(np.median(effect), color="black", ls="--", label="median")
ax.set(xlabel="NRS points relieved in week 12 (individual effect)", ylabel="patients")
ax.legend();'''),
    md('''
## 4. Biomarkers at enrolment

A clinician could sample plasma IL-6, TNF-alpha and NGF on the day of
enrolment, and image the tumor. Which of these predicts the individual
effect of an anti-NGF drug? The rank correlation answers how well each
orders the patients; the AUC how well each separates the patients who gain
at least one NRS point from the rest.
'''),
    code('''
i0 = int(np.searchsorted(res_c.t, 0.0))
markers = {"plasma NGF": res_c["plasma_ngf"][enrolled, i0],
           "plasma IL-6": res_c["plasma_il6"][enrolled, i0],
           "plasma TNF-alpha": res_c["plasma_tnf"][enrolled, i0],
           "tumor diameter": res_c["tumor_diameter"][enrolled, i0],
           "NRS at enrolment": res_c.nrs_baseline[enrolled]}
benefit = effect >= 1.0


def auc(score, label):
    """Probability that a random benefiting patient scores higher than a random other."""
    pos, neg = score[label], score[~label]
    if len(pos) == 0 or len(neg) == 0:
        return np.nan
    return float(np.mean(pos[:, None] > neg[None, :]) + 0.5 * np.mean(pos[:, None] == neg[None, :]))


pd.DataFrame({name: {"Spearman rho with effect": spearmanr(x, effect)[0],
                     "AUC for >= 1 point": auc(x, benefit)}
              for name, x in markers.items()}).T.round(2)'''),
    code('''
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
for ax, name in zip(axes, ["plasma NGF", "tumor diameter"]):
    ax.scatter(markers[name], effect, s=10, alpha=0.6)
    ax.set_xlabel(f"{name} at enrolment")
axes[0].set_ylabel("individual effect (NRS points)")
fig.suptitle("Does the marker predict who benefits from anti-NGF?")
fig.tight_layout()'''),
    md('''
## 5. A genotype as a modifier

Genetic and proteomic variants enter a scenario as **modifiers**: factors on
a model parameter (or on a drug's PK) applied to each patient's own value. An
"IL-6 high producer" makes 50 % more IL-6 per macrophage. Does such a
patient gain more from an anti-IL-6 antibody? Same patients, with and without
the variant, with and without the antibody.

Here the patients are given as a number: `patients=N` draws N patients with
the scenario's seed (the same people in every arm) and applies the
scenario's modifiers to them. (A parameter matrix is used exactly as given.)
'''),
    code('''
variant = [{"name": "IL-6 high producer", "parameter": "il6_per_macrophage", "factor": 1.5}]
anti_il6 = dict(regimens=["tocilizumab 162 mg sc weekly"])
arms = {
    ("typical", "control"): control,
    ("typical", "anti-IL-6"): control.with_changes(name="anti-IL-6", **anti_il6),
    ("IL-6 high", "control"): control.with_changes(name="control, variant", modifiers=variant),
    ("IL-6 high", "anti-IL-6"): control.with_changes(name="anti-IL-6, variant", modifiers=variant,
                                                     **anti_il6),
}
n_sub = max(10, N_PATIENTS // 5)
cache_v = {}
out = {k: neurosim.simulate_scenario(s, patients=n_sub, history_cache=cache_v).metrics()
       for k, s in arms.items()}
for geno in ("typical", "IL-6 high"):
    gain = out[(geno, "control")]["nrs_week12"] - out[(geno, "anti-IL-6")]["nrs_week12"]
    print(f"{geno:10s}: anti-IL-6 relieves {np.nanmean(gain):.2f} NRS points in week 12 "
          f"(baseline NRS {np.nanmean(out[(geno, 'control')]['nrs_baseline']):.2f})")'''),
    md('''
## 6. What a free-NGF assay and a total-NGF assay would see

Under an anti-NGF antibody, free NGF falls, but NGF bound to the antibody
accumulates (the complex is cleared with the antibody, over weeks). An assay
of total NGF therefore *rises* on treatment: a biomarker trap worth knowing.
'''),
    code('''
one = neurosim.simulate_scenario(active.with_changes(output_interval="1 d"))
fig, ax = plt.subplots(figsize=(8, 3.4))
ax.plot(one.t_weeks, one["plasma_ngf"][0], label="free NGF")
ax.plot(one.t_weeks, one["plasma_ngf_total"][0], label="total NGF (free + bound)")
ax.axvline(0, color="0.4", ls="--")
ax.set(xlabel="weeks since the first dose", ylabel="plasma NGF (pg/mL)", yscale="log")
ax.legend()
ax.set_title("Default patient on tanezumab");'''),
    md('''
## 7. Keep the results

Each arm is one self-describing HDF5 file; the per-patient table is a CSV.
'''),
    code('''
import tempfile
from pathlib import Path

folder = Path(tempfile.mkdtemp(prefix="neurosim-trial-"))
res_c.to_hdf5(folder / "control.h5")
res_a.to_hdf5(folder / "tanezumab.h5")
ma.assign(effect=effect).to_csv(folder / "tanezumab_patients.csv")
sorted(p.name for p in folder.iterdir())'''),
    md('''
## Try it

* Replace tanezumab with an NSAID (`"celecoxib 200 mg po bid"`): does plasma
  IL-6 become the better predictor?
* Enrol later (`treatment_start="nrs >= 6"`): is the drug less effective in
  patients with more central sensitization?
* The command line runs the same arms: `neurosim run anti_ngf --patients 500`.
'''),
]

# ----------------------------------------------------------------------------- 06

DESIGN = [
    md('''
# Design your own drug

In neurosim a drug is **data**: a table of pharmacokinetic numbers (volumes,
clearance, absorption), an effect compartment and one or more effects on the
model's slots, each number with a unit and a source. No Python and no
recompilation: the compiled model reads every number from the parameter
vector. So a pharmacologist can test an idea in the same patients as the
standard drugs before a single experiment.

The idea tested here: an **oral CCR2 antagonist**. CCR2 is the receptor of
the chemokine CCL2, which recruits macrophages into the tumor margin.
Blocking it should lower macrophage numbers over about a week (their
turnover), and with them TNF, IL-6, prostaglandin and NGF. It is compared
with the packaged hypothetical TrkA antagonist and with standard care.
'''),
    code(SIZE_CELL),
    code('''
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt

import neurosim
from neurosim.errors import ScenarioError
from neurosim.model import sample_population
from neurosim.scenario import Scenario
from neurosim.treatments import disposition

N_PATIENTS = 4 if SMALL else 50
DOSES = [25, 200] if SMALL else [10, 25, 50, 100, 200, 400]'''),
    md('''
## 1. The drug as a table

The layout is that of `src/neurosim/data/drugs.toml` (see `docs/drugs.md`).
Every number is an assumption here, and says so. The effect acts on the
`macrophage_recruitment` slot from the effect site: at concentration `C`, the
recruitment is multiplied by `1 - Emax C^h / (C^h + EC50^h)`.
'''),
    code('''
def q(value, unit="1", source="assumption"):
    return {"value": value, "unit": unit, "source": source}


ccr2x = {
    "class": "other",
    "description": "Hypothetical oral CCR2 antagonist (blocks macrophage recruitment)",
    "molar_mass": q(450, "g/mol", "assumption: small molecule"),
    "pk": {"compartments": 1,
           "v1": q(1.0, "L/kg"),
           "cl": q(12, "L/h", "assumption: half-life about 4 h"),
           "fraction_hepatic": q(0.9, source="assumption: mostly CYP metabolism"),
           "fu": q(0.05, source="assumption: 95 % bound to albumin"),
           "binding_protein": "albumin",
           "nonhepatic": "renal"},
    "routes": {"po": {"ka": q(1.5, "1/h"), "f_abs": q(0.8), "first_pass": True}},
    "effect_site": {"ke0": q(1.0, "1/h")},
    "effects": {"macrophage_recruitment": {"kind": "inhibit", "site": "effect",
                                           "emax": q(0.9), "ec50": q(0.5, "mg/L"),
                                           "hill": q(1.0)}},
}
sc = Scenario(name="ccr2x 100 mg bid", drugs={"ccr2x": ccr2x},
              regimens=["ccr2x 100 mg po q12h"])
print(sc.describe())'''),
    md('''
Mistakes are caught when the scenario is built, and the message names the
key and the fix. For example, a clearance given as a mass:
'''),
    code('''
broken = {**ccr2x, "pk": {**ccr2x["pk"], "cl": q(12, "mg")}}
try:
    Scenario(drugs={"ccr2x": broken}, regimens=["ccr2x 100 mg po q12h"])
except ScenarioError as err:
    print(err)'''),
    md('''
## 2. Pharmacokinetics first, and in cirrhosis

The liver model applies to the new drug as to any other. This one is mostly
cleared by the liver, but its hepatic clearance is a small part of liver
blood flow (a *low-extraction* drug, like oxycodone in notebook 04): its oral
bioavailability barely moves with shunting, while its clearance falls with
the liver's metabolic capacity, most in Child-Pugh C. Change `cl` to 60 L/h
and run the cell again to see a high-extraction drug instead.
'''),
    code('''
drug = sc.library.drug("ccr2x")
pk = {liver: disposition(drug, liver, body_weight=70.0)
      for liver in ("healthy", "child_pugh_a", "child_pugh_b", "child_pugh_c")}
pd.DataFrame({liver: {"oral bioavailability": d.route_f["po"], "clearance (L/h)": d.cl,
                      "half-life (h)": d.terminal_half_life(),
                      "exposure vs healthy": d.auc_per_mg("po") / pk["healthy"].auc_per_mg("po")}
              for liver, d in pk.items()}).T.round(2)'''),
    code('''
res = neurosim.simulate_scenario(sc)
res_b = neurosim.simulate_scenario(sc.with_changes(liver="child_pugh_b"))
days = res.t_days
win = (days >= 0) & (days <= 3)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
for r, label in ((res, "healthy"), (res_b, "Child-Pugh B")):
    axes[0].plot(days[win], r["ccr2x.ce"][0, win], label=label)
    axes[1].plot(r.t_weeks, r["slot.macrophage_recruitment"][0], label=label)
axes[0].set(title="effect-site concentration, first 3 days", xlabel="days", ylabel="mg/L")
axes[1].set(title="macrophage recruitment (1 = untouched)", xlabel="weeks", ylabel="slot value")
axes[0].legend()
fig.tight_layout()'''),
    md('''
## 3. Mechanism: does it do what it should?

Macrophages fall over days (their turnover), cytokines and NGF follow, and
the inflammatory and NGF components of pain go down. The central component
follows only as slowly as central sensitization decays.
'''),
    code('''
plain = neurosim.simulate_scenario(sc.with_changes(name="untreated", regimens=[]))
panels = [("macrophages (1 = cirrhotic background)", [("macrophages", "macrophages", "C0")]),
          ("plasma markers (pg/mL)", [("plasma_il6", "IL-6", "C1"), ("plasma_ngf", "NGF", "C2")]),
          ("pain components (NRS)", [("nrs_inflammatory", "inflammatory", "C3"),
                                     ("nrs_ngf", "NGF", "C2"), ("nrs_central", "central", "C4")])]
fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
for ax, (title, lines) in zip(axes, panels):
    for name, label, color in lines:
        ax.plot(plain.t_weeks, plain[name][0], color=color, ls="--")
        ax.plot(res.t_weeks, res[name][0], color=color, label=label)
    ax.axvline(0, color="0.5", ls=":")
    ax.set(title=title, xlabel="weeks")
    ax.legend(fontsize=8, title="dashed: untreated", title_fontsize=7)
fig.tight_layout()'''),
    md('''
## 4. Dose finding in a virtual population

The same virtual patients get each dose. The endpoint is the mean NRS in
week 12 relative to the untreated course of the same patients.
'''),
    code('''
patients = sample_population(N_PATIENTS, seed=99)
cache = {}
untreated = neurosim.simulate_scenario(sc.with_changes(name="untreated", regimens=[]),
                                       patients=patients, history_cache=cache)
rows = []
for dose in DOSES:
    r = neurosim.simulate_scenario(
        sc.with_changes(name=f"ccr2x {dose} mg bid", regimens=[f"ccr2x {dose} mg po q12h"]),
        patients=patients, history_cache=cache)
    gain = untreated.metrics()["nrs_week12"] - r.metrics()["nrs_week12"]
    rows.append({"dose (mg, twice daily)": dose, "relief in week 12 (NRS)": np.nanmean(gain),
                 "responders (>= 30 %)": r.summary()["responder_30"]})
dose_response = pd.DataFrame(rows).set_index("dose (mg, twice daily)")
fig, ax = plt.subplots(figsize=(6, 3.4))
dose_response["relief in week 12 (NRS)"].plot(ax=ax, marker="o", logx=True)
ax.set_ylabel("relief vs untreated (NRS points)")
ax.set_title("Dose-response of the CCR2 antagonist")
dose_response.round(2)'''),
    md('''
### Patients differ in the drug too

So far every patient clears the drug alike. In people, clearance varies
(here an assumed CV of 40 %, lognormal). `drug_factors` gives each patient
a factor on the drug's compiled clearance (after the liver state): the same
patients, the same dose, a spread of exposures. In a scenario file the same
is written `[population.drugs.ccr2x] cl = { distribution = "lognormal", cv =
0.4 }` (drawn in population runs, `docs/scenarios.md`), in a sweep file
`[sweep.drugs.ccr2x]` (`docs/sweeps.md`); `ka`, `v1`, `f`, `ke0` and `ec50`
vary the same way, and `[[population.correlations]]` correlates them (clearance
with volume, as a population-PK model's random effects often are).
'''),
    code('''
rng = np.random.default_rng(7)
sigma = np.sqrt(np.log(1 + 0.4 ** 2))          # CV 40 % (an assumption)
cl_factor = np.exp(sigma * rng.standard_normal(N_PATIENTS))
varied = neurosim.simulate_scenario(sc, patients=patients, history_cache=cache,
                                    drug_factors={"ccr2x.cl": cl_factor})
relief = untreated.metrics()["nrs_week12"] - varied.metrics()["nrs_week12"]
fig, ax = plt.subplots(figsize=(6, 3.4))
ax.scatter(cl_factor, relief)
ax.set_xscale("log")
ax.set(xlabel="clearance factor (1 = typical patient)", ylabel="relief in week 12 (NRS)",
       title="100 mg twice daily: faster clearance, less relief")'''),
    md('''
## 5. Against standard care, in the same patients

The packaged scenarios are loaded, their drug tables kept, and run in the
same patients: the NSAID, the anti-NGF antibody, titrated morphine and the
packaged hypothetical TrkA antagonist.
'''),
    code('''
standard = ["nsaid", "anti_ngf", "morphine_titrated", "hypothetical_drug"]
arms = [neurosim.load_scenario(n) for n in standard] + [sc]
results = [untreated] + [neurosim.simulate_scenario(s, patients=patients, history_cache=cache)
                         for s in arms]
from neurosim.comparison import plot_trajectories, summary_rows

fig, ax = plt.subplots(figsize=(10, 4))
plot_trajectories(results, ax, title="The new drug against standard care (median NRS)")
pd.DataFrame(summary_rows(results)).set_index("scenario")[
    ["nrs_week4", "nrs_week12", "pain_auc", "responder_30", "mme_per_day",
     "side_effect_burden"]].round(2)'''),
    md('''
Because every arm treats the same patients, each can be compared with
standard care **patient by patient**: the mean of the per-patient
differences from titrated morphine with its paired 95 % interval, and for
the responder rate the difference with Newcombe's paired interval (what
`neurosim effects` and `neurosim compare --patients N` print;
`docs/effects.md`). An interval that crosses the dashed line is a
difference this many virtual patients cannot tell from none.
'''),
    code('''
from neurosim.analysis.effects import plot_effects, treatment_effects

effects = treatment_effects(results, control="morphine_titrated",
                            metrics=["nrs_week12", "pain_auc", "responder_30",
                                     "side_effect_burden"])
display(plot_effects(effects))
pd.DataFrame(effects.rows()).set_index(["arm", "metric"])[
    ["n", "difference", "low", "high", "nnt"]].round(3)'''),
    md('''
## 6. From notebook to scenario file

`sc.text` is the scenario as TOML: the drug table included. Save it, check
it with the command line (`neurosim validate`), and it runs like any packaged
scenario (`neurosim run`, `neurosim compare`).
'''),
    code('''
import tempfile
from pathlib import Path

from neurosim.cli import main as neurosim_cli

folder = Path(tempfile.mkdtemp(prefix="neurosim-drug-"))
path = folder / "ccr2x.toml"
path.write_text(sc.text, encoding="utf-8")
print(sc.text[:600], "...")
status = neurosim_cli(["validate", str(path)])
print("neurosim validate exit status:", status)'''),
    md('''
## 7. Explore it with sliders

The explorer accepts a scenario: its drugs appear in the picker, with a dose
range around the scenario's dose.
'''),
    code('''
from neurosim.notebook import explore

ex = explore(sc)
ex'''),
    md('''
## Try it

* Make the antagonist also block TrkA (add an `effects.trka` table): do the
  two mechanisms add up?
* Give it a long half-life (lower `cl`) and dose it once a day.
* Put a CYP inhibitor into a patient as a modifier on the drug:
  `modifiers=[{"name": "CYP3A inhibitor", "drug": "ccr2x", "quantity": "pk.cl", "factor": 0.5}]`.
'''),
]

NOTEBOOKS = {
    "01_quickstart.ipynb": QUICKSTART,
    "02_why_pain_outgrows_the_tumor.ipynb": MECHANISMS,
    "03_comparing_treatments.ipynb": COMPARING,
    "04_cirrhosis_and_opioids.ipynb": CIRRHOSIS,
    "05_virtual_trial_and_biomarkers.ipynb": TRIAL,
    "06_design_your_own_drug.ipynb": DESIGN,
}


def build(cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, (kind, text) in enumerate(cells):
        cell = (nbformat.v4.new_markdown_cell(text) if kind == "markdown"
                else nbformat.v4.new_code_cell(text))
        cell["id"] = f"cell-{i:02d}"   # stable ids: rebuilding changes nothing
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true",
                    help="do not write; exit 1 if a stored notebook differs")
    args = ap.parse_args(argv)
    stale = []
    for name, cells in NOTEBOOKS.items():
        text = nbformat.writes(build(cells)) + "\n"
        target = EXAMPLES / name
        if args.check:
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            EXAMPLES.mkdir(exist_ok=True)
            target.write_text(text, encoding="utf-8")
    if stale:
        print("out of date (run python docs/scripts/build_example_notebooks.py):",
              ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
