"""Small sweep files and file comparisons shared by the sweep tests."""
from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np

#: Two arms, a genotype that changes morphine clearance, an LHS design; one
#: week of treatment from a fixed start, daily output: a few patients per second.
SMALL = """\
[scenario]
name = "small"
seed = 3

[simulation]
treatment_start = "120 d"
history = "1 d"
duration = "1 week"
output_interval = "1 d"

[sweep]
patients = {patients}
design = "{design}"
outputs = ["nrs", "cumulative_mme"]

[sweep.parameters]
tumor_doubling_time = {{ distribution = "lognormal", median = "120 d", cv = 0.5 }}
il6_per_macrophage = {{ distribution = "uniform", low = "10 pg/mL", high = "40 pg/mL" }}

[[sweep.genotypes]]
name = "UGT2B7"
[[sweep.genotypes.categories]]
name = "normal"
frequency = 0.7
[[sweep.genotypes.categories]]
name = "slow"
frequency = 0.3
modifiers = [{{ drug = "morphine", quantity = "pk.cl", factor = 0.5 }},
             {{ parameter = "il6_per_macrophage", factor = 1.5 }}]

[[sweep.arms]]
name = "control"

[[sweep.arms]]
name = "morphine"
regimens = ["morphine 10 mg po q4h"]
"""

#: Longer treated phase (20 weeks) so that a run lasts a few seconds.
LONGER = SMALL.replace('duration = "1 week"', 'duration = "20 weeks"')


def small(tmp_path, *, patients=12, design="lhs", text=SMALL, name="small.toml") -> Path:
    p = Path(tmp_path) / name
    p.write_text(text.format(patients=patients, design=design), encoding="utf-8")
    return p


def datasets(path) -> dict:
    """Every dataset of an HDF5 file: numbers as (dtype, shape, bytes), text as lists."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                x = obj[()]
                out[name] = (x.tolist() if x.dtype.kind == "O"
                             else (x.dtype.str, x.shape, x.tobytes()))
        f.visititems(visit)
    return out


def assert_same_results(a, b):
    """Every dataset of two sweep files equal, bit for bit."""
    da, db = datasets(a), datasets(b)
    assert da.keys() == db.keys()
    differ = [k for k in da if da[k] != db[k]]
    assert not differ, f"datasets differ: {differ}"


def digest(path) -> tuple:
    """Bytes and modification time of a file: 'untouched' means both unchanged."""
    p = Path(path)
    return hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns


def done_rows(path) -> np.ndarray:
    with h5py.File(path, "r") as f:
        arms = [k for k in f["arms"]]
        d = np.ones(int(f.attrs["n_patients"]), bool)
        for a in arms:
            d &= f[f"arms/{a}/done"][()].astype(bool)
    return d
