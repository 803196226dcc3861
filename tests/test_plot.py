"""``neurosim plot``, ``neurosim sweep --plot``, the overview figure and open_results."""
from __future__ import annotations

import re

import h5py
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from neurosim.analysis import plots  # noqa: E402
from neurosim.cli import main  # noqa: E402
from neurosim.errors import NeurosimKeyError, NeurosimValueError, ResultsFileError  # noqa: E402
from neurosim.io import open_results, read_results  # noqa: E402
from neurosim.simulation import ScenarioResult, simulate_scenario  # noqa: E402
from neurosim.scenario import loads_scenario  # noqa: E402
from neurosim.sweep import SweepResult, open_sweep, run_sweep  # noqa: E402

from _sweep_files import small  # noqa: E402

POPULATION = """\
[scenario]
name = "pop"
seed = 5

[simulation]
treatment_start = "nrs >= 4"
duration = "3 weeks"
endpoint = "3 weeks"
history = "1 week"
output_interval = "1 d"

[treatments]
regimens = ["morphine 10 mg po q4h"]

[population.drugs.morphine]
cl = { distribution = "lognormal", cv = 0.4 }
"""


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A 12-patient sweep with trajectories, the same summary-only, a population run."""
    d = tmp_path_factory.mktemp("plot")
    src = small(d, patients=12)
    traj, summ = d / "traj.h5", d / "summ.h5"
    run_sweep(src, traj, threads=1)
    run_sweep(src, summ, threads=1, summary_only=True)
    pop = d / "pop.h5"
    res = simulate_scenario(loads_scenario(POPULATION), patients=8, threads=1)
    res.to_hdf5(pop)
    return {"dir": d, "sweep": traj, "summary": summ, "run": pop, "src": src}


def _files_in(folder) -> set:
    return {p.name for p in folder.iterdir()}


# ----------------------------------------------------------------------------- library


def test_open_results_picks_the_reader_by_format(files, tmp_path):
    assert isinstance(open_results(files["sweep"]), SweepResult)
    r = open_results(files["run"])
    assert isinstance(r, ScenarioResult) and r.n_patients == 8
    np.testing.assert_array_equal(r["nrs"], read_results(files["run"])["nrs"])
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    with pytest.raises(ResultsFileError, match="not an HDF5 file"):
        open_results(text)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f.attrs["format"] = "something-else"
    with pytest.raises(ResultsFileError, match="not a neurosim results file.*something-else"):
        open_results(foreign)
    with pytest.raises(ResultsFileError, match="no such results file"):
        open_results(tmp_path / "missing.h5")


def test_sweep_rows_as_a_slice(files):
    sw = open_sweep(files["sweep"])
    full = sw.trajectories("morphine", "nrs")
    np.testing.assert_array_equal(sw.trajectories("morphine", "nrs", rows=slice(2, 5)),
                                  full[2:5])
    np.testing.assert_array_equal(sw.metrics("control", ["pain_auc"], rows=slice(-3, None))
                                  ["pain_auc"], sw.metrics("control", ["pain_auc"])
                                  ["pain_auc"][-3:])
    with pytest.raises(NeurosimValueError, match="step 1"):
        sw.trajectories("morphine", "nrs", rows=slice(0, 6, 2))


def test_sweep_rows_as_a_mask_or_indices_are_checked(files):
    sw = open_sweep(files["sweep"])
    full = sw.metrics("control", ["pain_auc"])["pain_auc"]
    n = sw.n_patients
    mask = np.arange(n) % 3 == 0
    np.testing.assert_array_equal(sw.metrics("control", ["pain_auc"], rows=mask)["pain_auc"],
                                  full[mask])
    np.testing.assert_array_equal(sw.metrics("control", ["pain_auc"], rows=[3, 0, 3])
                                  ["pain_auc"], full[[3, 0, 3]])
    for bad, words in [(mask[:-1], f"one entry per patient ({n})"),
                       ([0.5, 1.0], "a list of patient indices"),
                       ([n], f"from 0 to {n - 1}"), ([-1], f"from 0 to {n - 1}")]:
        with pytest.raises(NeurosimValueError, match=re.escape(words)):
            sw.metrics("control", ["pain_auc"], rows=bad)


def test_bands_of_a_sample_read_in_blocks_equal_the_bands_of_those_rows(files, monkeypatch):
    sw = open_sweep(files["sweep"])
    monkeypatch.setattr(plots, "_READ_BLOCK", 5)      # 12 rows in blocks of 5, 5, 2
    full = sw.trajectories("morphine", "nrs")
    ax = plots.population_bands(sw, "nrs", arm="morphine")
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(),
                                  np.nanpercentile(full, 50, axis=0))
    assert "of 12 patients" in ax.get_title()
    ax = plots.population_bands(sw, "nrs", arm="morphine", max_patients=7, seed=3)
    # the documented sample: a seeded choice among the finished rows, in row order
    rows = np.sort(np.random.default_rng(3).choice(np.arange(12), size=7, replace=False))
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(),
                                  np.nanpercentile(full[rows], 50, axis=0))
    assert "a random 7 of 12 patients" in ax.get_title()
    with pytest.raises(NeurosimValueError, match="max_patients"):
        plots.population_bands(sw, "nrs", arm="morphine", max_patients=0)


def test_overview_panels(files):
    sw = open_sweep(files["sweep"])
    fig = plots.overview(sw)
    titles = [ax.get_title() for ax in fig.get_axes()]
    assert len(titles) == 3 and "median" in titles[0] and "IMMPACT" in titles[1]
    assert "Change of pain" in titles[2]
    assert {t.get_text() for t in fig.get_axes()[0].get_legend().get_texts()} >= {
        "control: median", "morphine: median"}
    # summary-only: no trajectories, no bands
    fig = plots.overview(open_sweep(files["summary"]))
    assert len(fig.get_axes()) == 2
    # one arm
    fig = plots.overview(sw, arm="morphine")
    assert [t.get_text() for t in fig.get_axes()[1].get_xticklabels()] == ["morphine\n(n = 12)"]
    # a population run: one group, named after the scenario
    fig = plots.overview(read_results(files["run"]))
    assert len(fig.get_axes()) == 3
    assert fig.get_axes()[1].get_xticklabels()[0].get_text() == "pop\n(n = 8)"
    with pytest.raises(NeurosimKeyError, match="cumulative_mme"):
        plots.overview(sw, output="cumulative_mm")
    with pytest.raises(NeurosimKeyError, match="plasma_il6"):
        plots.overview(read_results(files["run"]), output="plasma_il7")


def test_metric_by_input_reads_a_population_runs_drug_factors(files):
    res = read_results(files["run"])
    ax = plots.metric_by_input(res, "morphine.cl", "mme_per_day", points=True)
    x = ax.collections[0].get_offsets()[:, 0]
    ok = (res.status == 0) & np.isfinite(res.metrics()["mme_per_day"])
    np.testing.assert_array_equal(np.sort(x), np.sort(res.drug_factors["morphine.cl"][ok]))
    with pytest.raises(NeurosimKeyError, match="morphine.cl"):
        plots.metric_by_input(res, "morphine.c", "mme_per_day")


# ----------------------------------------------------------------------------- command


@pytest.mark.parametrize("kind", ["overview", "bands", "patients", "waterfall", "responders",
                                  "change", "by-input"])
def test_every_kind_of_a_sweep_and_of_a_run(files, kind, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    extra = ["--input", "tumor_doubling_time"] if kind == "by-input" else []
    code, out, _ = run(["plot", files["sweep"], "--kind", kind, *extra], capsys)
    name = f"traj_{kind.replace('-', '_')}.png"
    assert code == 0 and f"wrote {name}" in out
    assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    extra = ["--input", "morphine.cl"] if kind == "by-input" else []
    code, out, _ = run(["plot", files["run"], "--kind", kind, "-o", "run.svg", *extra], capsys)
    assert code == 0 and (tmp_path / "run.svg").read_text().lstrip().startswith("<?xml")


def test_plot_options(files, tmp_path, capsys):
    png = tmp_path / "one.png"
    assert run(["plot", files["sweep"], "--arm", "morphine", "--kind", "patients",
                "--patients", "3", "-o", png, "-q"], capsys) == (0, "", "")
    assert png.stat().st_size > 5_000
    code, _, _ = run(["plot", files["summary"], "-o", tmp_path / "s.png"], capsys)
    assert code == 0                                  # summary-only: no bands, still a figure
    code, _, _ = run(["plot", files["sweep"], "--trajectory", "cumulative_mme",
                      "--kind", "bands", "--max-patients", "0", "-o", tmp_path / "c.png"], capsys)
    assert code == 0


@pytest.mark.parametrize("argv,words", [
    (["{missing}"], "no such results file"),
    (["{text}"], "not an HDF5 file"),
    (["{sweep}", "-o", "{dir}/x.txt"], "use a file name ending in .png"),
    (["{sweep}", "-o", "{dir}/nofolder/x.png"], "does not exist"),
    (["{sweep}", "--arm", "placebo"], "no arm named 'placebo'"),
    (["{run}", "--arm", "morphine"], "--arm applies to sweep files"),
    (["{sweep}", "--kind", "by-input"], "needs --input"),
    (["{sweep}", "--kind", "by-input", "--input", "nrs_s5"], "nrs_s5"),
    (["{sweep}", "--kind", "bands", "--trajectory", "plasma_il7"], "plasma_il7"),
    (["{summary}", "--kind", "bands"], "summary-only"),
    (["{sweep}", "--patients", "0", "--kind", "patients"], "--patients must be >= 1"),
    (["{sweep}", "--max-patients", "-1"], "--max-patients must be >= 0"),
])
def test_bad_input_exit_2_nothing_written(files, argv, words, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.h5").write_text("plain text")
    names = {"missing": tmp_path / "missing.h5", "text": tmp_path / "notes.h5",
             "sweep": files["sweep"], "run": files["run"], "summary": files["summary"],
             "dir": tmp_path}
    before = _files_in(tmp_path)
    code, out, err = run(["plot"] + [a.format(**names) for a in argv], capsys)
    assert code == 2 and words in err and err.startswith("neurosim plot: error:"), err
    assert err.count("\n") == 1 and out == ""
    assert _files_in(tmp_path) == before


def test_sweep_plot_option(files, tmp_path, capsys):
    out, png = tmp_path / "s.h5", tmp_path / "s.png"
    code, text, _ = run(["sweep", files["src"], "-o", out, "--threads", "1", "--plot", png,
                         "--progress", "none"], capsys)
    assert code == 0 and f"wrote {png}" in text and png.stat().st_size > 10_000
    # a wrong figure name is refused before anything runs
    code, _, err = run(["sweep", files["src"], "-o", tmp_path / "t.h5", "--plot",
                        tmp_path / "t.jpeg"], capsys)
    assert code == 2 and "--plot" in err and not (tmp_path / "t.h5").exists()


def test_an_unfinished_sweep_draws_its_finished_patients(files, tmp_path, capsys):
    import shutil

    part = tmp_path / "part.h5"
    shutil.copy(files["sweep"], part)
    with h5py.File(part, "r+") as f:          # as an interrupted sweep leaves it
        done = f["arms/morphine/done"][()]
        done[6:] = False
        f["arms/morphine/done"][...] = done
    sw = open_sweep(part)
    ax = plots.responder_rates(sw)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["control\n(n = 12)",
                                                           "morphine\n(n = 6)"]
    ax = plots.population_bands(sw, "nrs", arm="morphine")
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), np.nanpercentile(
        open_sweep(files["sweep"]).trajectories("morphine", "nrs")[:6], 50, axis=0))
    code, _, _ = run(["plot", part, "-o", tmp_path / "part.png"], capsys)
    assert code == 0 and (tmp_path / "part.png").stat().st_size > 10_000


def test_a_large_waterfall_is_an_outline_with_the_same_changes(files, monkeypatch):
    sw = open_sweep(files["sweep"])
    m = sw.metrics("morphine", ["nrs_baseline", "nrs_endpoint"])
    change = 100 * (m["nrs_endpoint"] - m["nrs_baseline"]) / m["nrs_baseline"]
    ax = plots.waterfall(sw, arm="morphine")
    assert sorted(p.get_height() for c in ax.containers for p in c.patches) == pytest.approx(
        sorted(change), rel=1e-12)
    monkeypatch.setattr(plots, "_WATERFALL_BARS", 5)     # 12 patients: drawn as outlines
    ax = plots.waterfall(sw, arm="morphine")
    assert not ax.containers and ax.collections
    ys = np.concatenate([p.vertices[:, 1] for c in ax.collections for p in c.get_paths()])
    for v in change:           # every patient's change is a level of the outline
        assert np.any(np.isclose(ys, v, rtol=1e-12, atol=0))


def test_a_list_of_population_runs_is_drawn_as_arms(files):
    from matplotlib.container import BarContainer

    from neurosim.analysis.plots import ResultSet

    drug = read_results(files["run"])
    sc = loads_scenario(POPULATION.replace('name = "pop"', 'name = "control"')
                        .replace('regimens = ["morphine 10 mg po q4h"]', "regimens = []")
                        .split("[population.drugs")[0])
    control = simulate_scenario(sc, patients=drug.parameters, threads=1)
    fig = plots.overview([control, drug])
    bands, resp, change = fig.get_axes()
    assert {t.get_text() for t in bands.get_legend().get_texts()} >= {"control: median",
                                                                       "pop: median"}
    np.testing.assert_array_equal(bands.get_lines()[1].get_ydata(),
                                  np.nanpercentile(drug["nrs"], 50, axis=0))
    bars = [c for c in resp.containers if isinstance(c, BarContainer)][0]
    for patch, r in zip(bars.patches, (control, drug)):
        assert patch.get_height() == pytest.approx(100 * np.mean(r.metrics()["responder_30"]))
    assert [t.get_text() for t in change.get_xticklabels()] == ["control\n(n = 8)",
                                                               "pop\n(n = 8)"]
    # a drug factor exists in the arm that gives the drug only
    ax = plots.metric_by_input([control, drug], "morphine.cl", "pain_auc")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["pop (median, quartiles)"]
    ax = plots.waterfall([control, drug], arm="control")
    assert "arm 'control'" in ax.get_title()
    # names: the scenarios', made unique; or given
    assert ResultSet([drug, drug]).arms == ["pop", "pop (2)"]
    assert ResultSet([control, drug], names=["a", "b"]).arms == ["a", "b"]
    with pytest.raises(NeurosimValueError, match="different numbers of patients"):
        ResultSet([drug, simulate_scenario(sc, patients=drug.parameters[:3], threads=1)])
    with pytest.raises(NeurosimValueError, match="one distinct name"):
        ResultSet([control, drug], names=["a", "a"])
    with pytest.raises(NeurosimValueError, match="ScenarioResult"):
        ResultSet([open_sweep(files["sweep"])])
    with pytest.raises(NeurosimKeyError, match="no arm named 'placebo'"):
        plots.responder_rates([control, drug], arm="placebo")


def test_patient_trajectories_median_of_a_sample(files):
    sw = open_sweep(files["sweep"])
    full = sw.trajectories("control", "nrs")
    ax = plots.patient_trajectories(sw, "nrs", arm="control", n=3, seed=2)
    assert ax.get_lines()[3].get_label() == "median of 12 patients"
    np.testing.assert_array_equal(ax.get_lines()[3].get_ydata(), np.nanmedian(full, axis=0))
    ax = plots.patient_trajectories(sw, "nrs", arm="control", n=3, seed=2, max_patients=5)
    rows = np.sort(np.random.default_rng(2).choice(np.arange(12), size=5, replace=False))
    assert ax.get_lines()[3].get_label() == "median of a random 5 of 12 patients"
    np.testing.assert_array_equal(ax.get_lines()[3].get_ydata(),
                                  np.nanmedian(full[rows], axis=0))


def _damage(path, how):
    """Damage a copy of a results file as a disk fault or a hand edit might."""
    with h5py.File(path, "r+") as f:
        kind, _, what = how.partition(":")
        if kind == "del-attr":
            del f.attrs[what]
        elif kind == "attr":
            key, value = what.split("=", 1)
            f.attrs[key] = value
        elif kind == "del":
            del f[what]
        elif kind == "short":               # a dataset one row shorter
            x = f[what][()]
            del f[what]
            f[what] = x[:-1]
        elif kind == "scalar":
            del f[what]
            f[what] = 1.0
        elif kind == "nan":
            f[what][0] = np.nan


@pytest.mark.parametrize("which,how,words", [
    ("sweep", "del-attr:arms", "the attribute 'arms' is missing"),
    ("sweep", "attr:arms=not json", "the attribute 'arms' is unreadable"),
    ("sweep", "attr:arms=[]", "the list is empty"),
    ("sweep", "attr:n_patients=-5", "'n_patients' is unreadable"),
    ("sweep", "attr:endpoint_h=soon", "'endpoint_h' is unreadable"),
    ("summary", "attr:summary_only=yes", "'summary_only' is unreadable: not 0 or 1"),
    ("sweep", "del:arms/morphine/status", "'arms/morphine/status' is missing"),
    ("sweep", "short:arms/control/metrics/pain_auc", "'arms/control/metrics/pain_auc' has shape"),
    ("sweep", "short:time", "times; 'time' has"),
    ("sweep", "del:patients/parameters", "'patients/parameters' is missing"),
    ("summary", "del:arms/control/metrics", "'arms/control/metrics' is missing"),
    ("run", "scalar:outputs/nrs", "the output 'nrs' has shape ()"),
    ("run", "nan:time", "the save times 'time' are not an increasing list"),
    ("run", "del:outputs/sedation", "the output 'sedation' is missing"),
    ("run", "attr:format=neurosim-sweep", "damaged sweep file"),
])
def test_damaged_files_are_named_not_tracebacks(files, which, how, words, tmp_path, capsys):
    # Every reader goes through the layout check: one line naming the file and
    # what is wrong, exit status 2, no figure.
    path = tmp_path / f"{which}.h5"
    path.write_bytes(files[which].read_bytes())
    _damage(path, how)
    with pytest.raises(ResultsFileError, match="damaged"):
        open_results(path)
    fig = tmp_path / "x.png"
    code, out, err = run(["plot", path, "-o", fig], capsys)
    assert code == 2 and words in err and str(path) in err, err
    assert len(err.strip().splitlines()) == 1 and not fig.exists()


def test_resume_of_a_damaged_sweep_file_is_refused(files, tmp_path, capsys):
    path = tmp_path / "r.h5"
    path.write_bytes(files["summary"].read_bytes())
    _damage(path, "attr:batch_rows=many")
    code, _, err = run(["sweep", files["src"], "-o", path, "--resume", "--summary-only", "-q"],
                       capsys)
    assert code == 2 and "'batch_rows' is unreadable" in err


def test_resume_with_a_garbled_summary_flag_is_refused(files, tmp_path, capsys):
    path = tmp_path / "r.h5"
    path.write_bytes(files["summary"].read_bytes())
    before = path.read_bytes()
    with h5py.File(path, "r+") as f:
        f.attrs["summary_only"] = np.int8(7)
    damaged = path.read_bytes()
    code, _, err = run(["sweep", files["src"], "-o", path, "--resume", "--summary-only", "-q"],
                       capsys)
    assert code == 2 and "'summary_only' is unreadable: not 0 or 1" in err, err
    assert len(err.strip().splitlines()) == 1
    assert path.read_bytes() == damaged != before


@pytest.mark.parametrize("which", ["summary", "run"])
def test_random_byte_damage_never_gives_a_traceback(files, which, tmp_path, capsys):
    # Seeded fuzzing: runs of bytes overwritten at random places of a results
    # file (header, metadata, compressed chunks). Reading and plotting either
    # works or fails with exit status 2 and one line naming the file; never a
    # traceback, never a figure after a failure.
    data = files[which].read_bytes()
    rng = np.random.default_rng(2026)
    for k in range(12):
        buf = bytearray(data)
        for at in rng.integers(0, len(buf) - 64, size=3):
            buf[at:at + 32] = rng.integers(0, 256, size=32, dtype=np.uint8).tobytes()
        path = tmp_path / f"{which}_{k}.h5"
        path.write_bytes(bytes(buf))
        fig = tmp_path / f"{which}_{k}.png"
        code, out, err = run(["plot", path, "-o", fig, "--kind", "responders"], capsys)
        assert code in (0, 2), (k, err)
        if code == 2:
            assert str(path) in err and len(err.strip().splitlines()) == 1, (k, err)
            assert not fig.exists()
