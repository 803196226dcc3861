"""Running sweeps: results, the HDF5 file, interruption and resume, bad input.

Reference for the numbers: ``simulate_scenario`` on the same parameter rows
(the sweep must add no simulation path of its own); reference for resume:
an uninterrupted run of the same sweep, compared bit for bit.
"""
from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from _sweep_files import LONGER, assert_same_results, digest, done_rows, small
from neurosim.cli import main
from neurosim.errors import NeurosimKeyError, ResultsFileError, ScenarioError
from neurosim.simulation import METRICS, simulate_scenario
from neurosim.sweep import SweepInterrupted, load_sweep, open_sweep, run_sweep

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The small sweep run once, uninterrupted (batches of 12, 2 threads)."""
    d = tmp_path_factory.mktemp("ref")
    path = small(d)
    out = d / "ref.h5"
    run_sweep(path, out, batch_size=12, threads=2)
    return path, out


# ----------------------------------------------------------------------------- numbers


def test_sweep_numbers_are_simulate_scenario_on_the_same_patients(reference):
    """Each arm and genotype group, run through simulate_scenario one patient at a time,
    gives the numbers in the file bit for bit."""
    path, out = reference
    sw = load_sweep(path)
    P, G = sw.patients(0, sw.n_patients)
    res = open_sweep(out)
    for a, arm in enumerate(sw.arms):
        m = res.metrics(arm.name)
        nrs = res.trajectories(arm.name, "nrs")
        for i in (0, 5, 11):
            sc = sw.arm_scenario(a, sw.drug_key(G[i:i + 1])[0])
            one = simulate_scenario(sc, patients=P[i:i + 1], threads=1)
            ref = one.metrics()
            for name, _, _ in METRICS:
                np.testing.assert_array_equal(m[name][i], ref[name][0], err_msg=name)
            np.testing.assert_array_equal(nrs[i], one["nrs"][0])
        assert np.all(res.status(arm.name) == 0)
    # the genotype matters: slow morphine clearance, more exposure, more sedation
    G = res.genotypes()["UGT2B7"]
    sed = res.metrics("morphine")["sedation"]
    assert set(G) == {"normal", "slow"}
    assert np.median(sed[G == "slow"]) > np.median(sed[G == "normal"])
    # paired: the control arm has no opioid
    assert np.all(res.metrics("control")["mme_per_day"] == 0)
    np.testing.assert_allclose(res.metrics("morphine")["mme_per_day"], 60.0)


def test_results_do_not_depend_on_batch_size_or_threads(tmp_path, reference):
    path, out = reference
    other = tmp_path / "other.h5"
    run_sweep(path, other, batch_size=5, threads=1)
    assert_same_results(out, other)


def test_file_describes_itself(reference):
    path, out = reference
    text = Path(path).read_text(encoding="utf-8")
    with h5py.File(out, "r") as f:
        a = f.attrs
        assert a["format"] == "neurosim-sweep" and int(a["format_version"]) == 1
        assert a["sweep"] == text
        assert a["sweep_sha256"] == hashlib.sha256(text.encode()).hexdigest()
        assert int(a["seed"]) == 3 and int(a["n_patients"]) == 12
        assert a["layout"] == "compressed" and int(a["complete"]) == 1
        assert json.loads(a["arms"]) == ["control", "morphine"]
        for key in ("neurosim_version", "created", "command_line", "completed"):
            assert a[key]
        nrs = f["arms/morphine/trajectories/nrs"]
        assert nrs.compression == "gzip" and nrs.chunks is not None
        assert nrs.dims[1][0].name == "/time" and nrs.dims[0].label == "patient"
        np.testing.assert_array_equal(f["time"][()], np.arange(-1, 8) * 24.0)
        for name, unit, _ in METRICS:
            ds = f[f"arms/control/metrics/{name}"]
            assert ds.attrs["units"] == unit and ds.attrs["description"]
        assert f["arms/control/done"][()].all()
        names = [x.decode() for x in f["patients/parameter_names"][()]]
        assert "tumor_doubling_time" in names and "il6_per_macrophage" in names
        assert f["patients/parameters"].shape == (12, len(names))
        origin = dict(zip(names, (x.decode() for x in f["patients/parameter_origin"][()])))
        assert origin["tumor_doubling_time"].startswith("swept: lognormal")


def test_open_sweep_reads_what_is_asked(reference):
    path, out = reference
    res = open_sweep(out)
    assert res.arms == ["control", "morphine"] and res.complete
    assert res.outputs == ["nrs", "cumulative_mme"]
    rows = [7, 2, 7]
    tr = res.trajectories("morphine", "cumulative_mme", rows=rows)
    full = res.trajectories("morphine", "cumulative_mme")
    np.testing.assert_array_equal(tr, full[rows])
    assert tr.shape == (3, res.t.size)
    m = res.metrics("morphine", ["pain_auc"], rows=np.arange(12) < 4)
    assert list(m) == ["pain_auc"] and m["pain_auc"].shape == (4,)
    j = res.parameter_names.index("il6_per_macrophage")
    np.testing.assert_array_equal(res.parameter("il6_per_macrophage"), res.parameters[:, j])
    assert res.status_messages("control") == ["success"] * 12
    with pytest.raises(NeurosimKeyError, match="Did you mean 'morphine'"):
        res.metrics("morfine")
    with pytest.raises(NeurosimKeyError, match="Did you mean 'pain_auc'"):
        res.metrics("control", "pain_auk")
    pd = pytest.importorskip("pandas")
    df = res.to_dataframe()
    assert len(df) == 24 and set(df["arm"]) == {"control", "morphine"}
    assert isinstance(df, pd.DataFrame) and "UGT2B7" in df and "pain_auc" in df
    # the paired difference per patient
    diff = (df[df.arm == "morphine"]["pain_auc"].to_numpy()
            - df[df.arm == "control"]["pain_auc"].to_numpy())
    assert np.all(diff < 0)


# ----------------------------------------------------------------------------- interruption


def test_interrupted_run_keeps_finished_batches_and_resumes_bit_for_bit(tmp_path, reference):
    path, out = reference
    part = tmp_path / "part.h5"
    seen = []

    def stop_after_first(a, b):
        seen.append((a, b))
        if len(seen) == 1:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(SweepInterrupted) as info:
        run_sweep(path, part, batch_size=3, threads=1, on_batch=stop_after_first)
    assert info.value.signum == signal.SIGINT and 3 <= info.value.done < 12
    done = done_rows(part)
    assert done.sum() == info.value.done
    with h5py.File(part, "r") as f:
        assert f.attrs["layout"] == "in-place"
        # rows not done hold the fill values
        assert np.all(np.isnan(f["arms/control/metrics/pain_auc"][()][~done]))
        assert np.all(f["arms/control/status"][()][~done] == -1)
    partial = open_sweep(part)
    assert not partial.complete and np.all(np.isnan(partial.metrics("control")["pain_auc"]
                                                    [~done]))
    with pytest.raises(ResultsFileError, match="exists"):
        run_sweep(path, part)
    run_sweep(path, part, resume=True, batch_size=4)
    assert_same_results(out, part)


def _cli(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "neurosim.cli", "sweep", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _wait_for_progress(proc, total):
    """Read stderr until the first progress line: at least one batch is saved."""
    for line in proc.stderr:
        if f"/{total} (" in line:
            return line
    raise AssertionError(f"no progress line; exit {proc.wait()}: {proc.stdout.read()}")


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_cli_sweep_killed_mid_run_resumes_to_the_same_file(tmp_path, how):
    """A subprocess killed (SIGKILL: no cleanup at all) or stopped (SIGTERM) mid-sweep;
    --resume finishes it; every dataset equals an uninterrupted run's, bit for bit."""
    path = small(tmp_path, patients=40, text=LONGER)
    whole = tmp_path / "whole.h5"
    assert main(["sweep", str(path), "-o", str(whole), "--batch-size", "7", "-q"]) == 0
    out = tmp_path / "cut.h5"
    proc = _cli(path, "-o", out, "--batch-size", "2", "--progress", "text", "--threads", "1")
    _wait_for_progress(proc, 40)
    proc.send_signal(how)
    _, err = proc.communicate(timeout=120)
    done = done_rows(out)
    assert 0 < done.sum() < 40, err
    if how == signal.SIGTERM:
        assert proc.returncode == 143
        assert "stopped by SIGTERM" in err and "--resume" in err
    else:
        assert proc.returncode == -signal.SIGKILL
    assert main(["sweep", str(path), "-o", str(out), "--resume", "-q"]) == 0
    assert_same_results(whole, out)


def test_worker_processes_give_the_same_file(tmp_path, reference):
    path, out = reference
    other = tmp_path / "procs.h5"
    run_sweep(path, other, batch_size=3, workers=2)
    assert_same_results(out, other)


# ----------------------------------------------------------------------------- bad input


def test_resume_refuses_a_file_of_another_sweep(tmp_path, reference, capsys):
    path, out = reference
    copy = tmp_path / "copy.h5"
    copy.write_bytes(out.read_bytes())
    before = digest(copy)
    changed = tmp_path / "changed.toml"
    changed.write_text(Path(path).read_text() + "# a comment changes the definition\n")
    assert main(["sweep", str(changed), "-o", str(copy), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "different sweep" in err and "SHA-256" in err
    assert digest(copy) == before


def test_existing_file_needs_resume_or_overwrite(tmp_path, reference, capsys):
    path, out = reference
    copy = tmp_path / "copy.h5"
    copy.write_bytes(out.read_bytes())
    before = digest(copy)
    assert main(["sweep", str(path), "-o", str(copy)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert digest(copy) == before
    # a finished file resumed: nothing to do, nothing changed
    assert main(["sweep", str(path), "-o", str(copy), "--resume", "-q"]) == 0
    assert digest(copy) == before
    # a file of another format
    other = tmp_path / "results.h5"
    with h5py.File(other, "w") as f:
        f.attrs["format"] = "neurosim-results"
    before = digest(other)
    assert main(["sweep", str(path), "-o", str(other), "--resume"]) == 2
    assert "not a neurosim sweep file" in capsys.readouterr().err
    assert digest(other) == before


@pytest.mark.parametrize("line, words", [
    ('tumor_doubling_time = { distribution = "lognormal", median = "120 d", cv = 0.5 }',
     "Did you mean 'tumor_doubling_time'"),
    ('tumor_doubling_time = { distribution = "lognormal", median = "120 d", cv = -2 }',
     "must be > 0"),
])
def test_bad_sweep_file_exits_2_and_writes_nothing(tmp_path, capsys, line, words):
    path = small(tmp_path)
    text = path.read_text()
    bad = line.replace("tumor_doubling_time", "tumor_doubling_tme") if "Did" in words else line
    path.write_text(text.replace(
        'tumor_doubling_time = { distribution = "lognormal", median = "120 d", cv = 0.5 }', bad))
    out = tmp_path / "out.h5"
    assert main(["sweep", str(path), "-o", str(out)]) == 2
    assert words in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [path]


def test_full_disk_exits_2_and_leaves_the_existing_file_untouched(tmp_path, reference):
    """A real write failure: the child process may not write files larger than 1 MiB
    (RLIMIT_FSIZE; the kernel then fails the write with EFBIG, as a full disk does with
    ENOSPC). The sweep's file needs more; --overwrite of an existing file must fail cleanly."""
    path = small(tmp_path, patients=20000)
    out = tmp_path / "out.h5"
    out.write_bytes(reference[1].read_bytes())
    before = digest(out)

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    proc = subprocess.run([sys.executable, "-m", "neurosim.cli", "sweep", str(path), "-o",
                           str(out), "--overwrite"], capture_output=True, text=True,
                          preexec_fn=limit, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "disk is full" in proc.stderr and "Nothing was written" in proc.stderr
    assert digest(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5", "small.toml"]


def test_too_little_free_space_is_found_before_writing(tmp_path, monkeypatch, capsys):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10 << 20, 10 << 20, 1000))
    path = small(tmp_path)
    assert main(["sweep", str(path), "-o", str(tmp_path / "out.h5")]) == 2
    assert "GiB free" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [path]


def test_read_only_file_on_resume_exits_2(tmp_path, reference, monkeypatch, capsys):
    """The operating system's refusal to open the file for writing (simulated: tests may
    run as root, for whom permissions do not apply) is a clear error; the file is unchanged."""
    path, out = reference
    part = tmp_path / "part.h5"
    calls = []
    with pytest.raises(SweepInterrupted):
        run_sweep(path, part, batch_size=6, threads=1,
                  on_batch=lambda a, b: calls.append(os.kill(os.getpid(), signal.SIGINT)))
    before = digest(part)
    real = h5py.File

    def read_only(name, mode="r", *args, **kw):
        if mode != "r":
            raise PermissionError(13, "Permission denied")
        return real(name, mode, *args, **kw)

    monkeypatch.setattr(h5py, "File", read_only)
    assert main(["sweep", str(path), "-o", str(part), "--resume"]) == 2
    assert "permission denied" in capsys.readouterr().err
    assert digest(part) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_folder_exits_2(tmp_path, capsys):
    path = small(tmp_path)
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        assert main(["sweep", str(path), "-o", str(folder / "out.h5")]) == 2
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


# ----------------------------------------------------------------------------- files, output


def test_every_sweep_file_in_the_repository_loads_and_runs(tmp_path):
    files = sorted((REPO / "scenarios" / "sweeps").glob("*.toml"))
    assert any(p.name == "reference_trial.toml" for p in files)
    for p in files:
        sw = load_sweep(p)
        assert sw.description and not sw.warnings, sw.warnings
        text = p.read_text().replace(f"patients = {sw.n_patients}", "patients = 2")
        short = tmp_path / p.name
        short.write_text(text)
        res = run_sweep(short, tmp_path / f"{p.stem}.h5", summary_only=True)
        for arm in res.arms:
            assert np.all(res.status(arm) == 0)
            assert np.all(np.isfinite(res.metrics(arm)["pain_auc"]))


def test_cli_prints_a_table_per_arm(tmp_path, reference, capsys):
    path, _ = reference
    out = tmp_path / "s.h5"
    assert main(["sweep", str(path), "-o", str(out), "--summary-only", "--progress",
                 "none"]) == 0
    text = capsys.readouterr().out
    assert "control" in text and "morphine" in text and f"wrote {out}" in text
    assert f"each arm against 'control', patient by patient: neurosim effects {out}" in text
    res = open_sweep(out)
    assert res.outputs == []
    with h5py.File(out, "r") as f:
        assert "trajectories" not in f["arms/control"] and "time" not in f
    # --summary-only must match on resume
    assert main(["sweep", str(path), "-o", str(out), "--resume"]) == 2


def test_check_describes_the_sweep_without_running(tmp_path, capsys):
    path = small(tmp_path)
    assert main(["sweep", str(path), "--check"]) == 0
    assert "Sweep 'small'" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == [path]


def test_text_progress_gives_rate_and_time_left():
    import io

    from neurosim._progress import _Text

    buf = io.StringIO()
    rep = _Text(100, "trial", stream=buf, unit="patients", every=0.0)
    rep.update(25)
    rep.update(75)
    lines = buf.getvalue().splitlines()
    assert lines[0].startswith("trial: 25/100 (25 %,") and "patients per s" in lines[0]
    assert "left" in lines[0] and "left" not in lines[-1]
    assert lines[-1].startswith("trial: 100/100 (100 %")


def test_bad_options_exit_2(tmp_path, capsys):
    path = small(tmp_path)
    out = tmp_path / "o.h5"
    assert main(["sweep", str(path), "-o", str(out), "--batch-size", "0"]) == 2
    assert main(["sweep", str(path), "-o", str(tmp_path / "o.txt")]) == 2
    assert main(["sweep", str(path), "-o", str(out), "--dask", "somewhere"]) == 2
    assert list(tmp_path.iterdir()) == [path]
    with pytest.raises(ScenarioError, match="file not found"):
        load_sweep(tmp_path / "missing.toml")


# ----------------------------------------------------------------------------- memory


_MEMORY_CHILD = """
import resource, sys
from neurosim.sweep import loads_sweep, run_sweep
text = open(sys.argv[1]).read().replace("patients = 12", "patients = " + sys.argv[2])
sw = loads_sweep(text, source=sys.argv[1])
run_sweep(loads_sweep(text.replace("patients = " + sys.argv[2], "patients = 2"),
                      source=sys.argv[1]), sys.argv[3] + ".warm.h5", summary_only=True)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
run_sweep(sw, sys.argv[3], summary_only=True, batch_size=500)
print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.mark.slow
def test_summary_only_memory_does_not_grow_with_the_number_of_patients(tmp_path):
    """Peak resident memory of a summary-only sweep (same batch size) with 2,000 and
    40,000 patients: the larger run may not need more than 40 MiB more. Holding the
    40,000 patients' daily trajectories of every state would take about 1 GiB."""
    path = small(tmp_path).read_text().replace('duration = "1 week"', 'duration = "2 d"')
    (tmp_path / "m.toml").write_text(path)
    peaks = {}
    for n in (2000, 40000):
        proc = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(tmp_path / "m.toml"),
                               str(n), str(tmp_path / f"m{n}.h5")], capture_output=True,
                              text=True, timeout=1800)
        assert proc.returncode == 0, proc.stderr
        before, after = map(int, proc.stdout.split())
        peaks[n] = after * 1024
        assert open_sweep(tmp_path / f"m{n}.h5").complete
    assert peaks[40000] - peaks[2000] < 40 * 2**20, peaks
