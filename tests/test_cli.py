"""The run, compare, validate and demo commands (in process, and one real subprocess)."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from neurosim.cli import main  # noqa: E402
from neurosim.io import read_results  # noqa: E402
from neurosim.simulation import ScenarioResult  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

SHORT = """
[scenario]
name = "{name}"

[simulation]
treatment_start = "6 months"
duration = "1 week"
history = "2 d"
output_interval = "2 h"

[treatments]
regimens = [{regimens}]
"""


def write(tmp_path, name, regimens='"morphine 10 mg po q4h"', text=None):
    p = tmp_path / f"{name}.toml"
    p.write_text(text if text is not None else SHORT.format(name=name, regimens=regimens))
    return p


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_run_writes_results_and_plot(tmp_path, capsys):
    sc = write(tmp_path, "mor")
    out_h5, png = tmp_path / "out.h5", tmp_path / "fig.png"
    code, out, err = run(["run", sc, "-o", out_h5, "--plot", png], capsys)
    assert code == 0, err
    assert out_h5.is_file() and png.is_file() and png.stat().st_size > 10_000
    assert "mme_per_day" in out and "60" in out and f"wrote {out_h5}" in out
    res = ScenarioResult.from_hdf5(out_h5)
    assert res.name == "mor" and res.info["command_line"].startswith("neurosim run")


def test_run_default_output_name(tmp_path, capsys, monkeypatch):
    sc = write(tmp_path, "named")
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["run", sc, "-q"], capsys)
    assert code == 0, err
    assert (tmp_path / "named.h5").is_file()


BAD = [
    ('"morphin 10 mg po q4h"', "treatments.regimens[0]", "Did you mean 'morphine'"),
    ('"morphine 10 mg xx q4h"', "treatments.regimens[0]", "no route 'xx'"),
    ('"morphine 10 mL po q4h"', "treatments.regimens[0]", "must be a mass"),
    ('"morphine -10 mg po q4h"', "treatments.regimens[0]", "negative"),
    ('"morphine 2 mg/h iv for 5 d", "morphine 1 mg/h iv from 2 d"', "treatments.regimens",
     "overlapping infusions"),
]


@pytest.mark.parametrize("regimens, key, text", BAD, ids=[b[2] for b in BAD])
def test_run_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, regimens, key, text):
    sc = write(tmp_path, "bad", regimens)
    out_h5 = tmp_path / "out.h5"
    code, out, err = run(["run", sc, "-o", out_h5], capsys)
    assert code == 2
    assert str(sc) in err and f"[{key}]" in err and text in err
    assert not out_h5.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def test_run_unknown_key_liver_and_unit_errors(tmp_path, capsys):
    cases = [
        ("[simulation]\nduraton = \"1 week\"\n", "simulation.duraton", "Did you mean"),
        ("[patient]\nliver = \"child_pugh_e\"\n", "patient.liver", "child_pugh"),
        ("[simulation]\nduration = \"1 mg\"\n", "simulation.duration", "must be a time"),
        ("[treatments]\nregimens = [\"morphine 10 mg po q4h\"]\n[drugs.morphine.pk]\n"
         "cl = \"5 mg\"\n", "drugs.morphine.pk.cl", "clearance"),
    ]
    for i, (text, key, words) in enumerate(cases):
        sc = write(tmp_path, f"c{i}", text=text)
        out_h5 = tmp_path / f"c{i}.h5"
        code, _, err = run(["run", sc, "-o", out_h5], capsys)
        assert code == 2 and f"[{key}]" in err and words in err and str(sc) in err
        assert not out_h5.exists()


def test_run_missing_file_and_bad_output_path(tmp_path, capsys):
    code, _, err = run(["run", tmp_path / "nope.toml"], capsys)
    assert code == 2 and "file not found" in err
    sc = write(tmp_path, "ok")
    code, _, err = run(["run", sc, "-o", tmp_path / "missing_dir" / "r.h5"], capsys)
    assert code == 2 and "does not exist" in err
    code, _, err = run(["run", sc, "-o", tmp_path / "r.txt"], capsys)
    assert code == 2 and ".h5" in err
    assert not list(tmp_path.glob("*.h5"))


def test_validate_good_bad_and_comparison_sets(tmp_path, capsys):
    code, out, _ = run(["validate", REPO / "scenarios" / "compare_standard.toml"], capsys)
    assert code == 0 and "comparison set 'standard' with 12 scenarios" in out
    assert out.count(": valid") == 12
    code, out, _ = run(["validate", "morphine_titrated"], capsys)
    assert code == 0 and "titrate morphine" in out
    bad = write(tmp_path, "bad", '"morphine 10 mg po q4"')
    good = write(tmp_path, "good")
    code, out, err = run(["validate", bad, good], capsys)
    assert code == 2
    assert f"{bad}: [treatments.regimens[0]]" in err and "q4h" in err
    assert f"{good}: valid" in out


def test_compare_writes_figure_table_and_csv(tmp_path, capsys):
    a = write(tmp_path, "alpha")
    b = write(tmp_path, "beta", '"celecoxib 200 mg po bid"')
    outdir = tmp_path / "cmp"
    code, out, err = run(["compare", a, b, "-o", outdir, "--liver", "B"], capsys)
    assert code == 0, err
    for name in ("comparison.png", "comparison.csv", "alpha.h5", "beta.h5"):
        assert (outdir / name).is_file(), name
    assert "pain AUC" in out and "alpha" in out and "beta" in out and "child_pugh_b" in out
    assert "safety flags:" in out and "NSAID" in out
    # the NSAID flag in cirrhosis and 400 mg/day above the Child-Pugh B maximum
    assert out.count("beta (child_pugh_b): high:") == 2
    rows = list(csv.DictReader((outdir / "comparison.csv").open()))
    assert [r["scenario"] for r in rows] == ["alpha", "beta"]
    assert float(rows[0]["mme_per_day [mg/d]"]) == pytest.approx(60.0)
    assert "pain_auc [NRS*d]" in rows[0]
    assert not (outdir / "population.png").exists()      # one patient: no population figure


def test_compare_of_populations_adds_the_population_figure(tmp_path, capsys):
    a = write(tmp_path, "alpha")
    b = write(tmp_path, "beta", '"celecoxib 200 mg po bid"')
    outdir = tmp_path / "cmp"
    code, out, err = run(["compare", a, b, "-o", outdir, "--patients", "4", "--threads", "1"],
                         capsys)
    assert code == 0, err
    assert (outdir / "population.png").stat().st_size > 10_000
    assert f"wrote {outdir / 'comparison.png'}, {outdir / 'population.png'}" in out
    # the same 4 patients in both: beta's paired effects against alpha, as neurosim effects
    assert "Paired effects against 'alpha'" in out
    rows = list(csv.DictReader((outdir / "effects.csv").open()))
    alpha, beta = (read_results(outdir / f"{n}.h5").metrics() for n in ("alpha", "beta"))
    auc = next(r for r in rows if r["metric"] == "pain_auc")
    assert (auc["arm"], auc["control"], int(auc["n"])) == ("beta", "alpha", 4)
    assert float(auc["difference"]) == pytest.approx(
        np.mean(beta["pain_auc"] - alpha["pain_auc"]), rel=1e-12)


def test_compare_bad_input_writes_nothing(tmp_path, capsys):
    a = write(tmp_path, "alpha")
    b = write(tmp_path, "beta", '"celecoxib 200 mg po bd"')
    outdir = tmp_path / "cmp"
    code, _, err = run(["compare", a, b, "-o", outdir], capsys)
    assert code == 2 and str(b) in err and "Did you mean 'bid'" in err
    assert not outdir.exists()
    code, _, err = run(["compare", a, "-o", outdir, "--liver", "D"], capsys)
    assert code == 2 and "--liver" in err and not outdir.exists()


def test_demo_quick(tmp_path, capsys):
    outdir = tmp_path / "demo"
    code, out, err = run(["demo", "--quick", "-o", outdir, "--progress", "text"], capsys)
    assert code == 0, err
    assert "neurosim demo: 24/24 (100 %" in err   # progress over the simulations
    for name in ("summary.csv", "nrs_trajectories.png", "components.png",
                 "liver_comparison.png"):
        assert (outdir / name).is_file(), name
    files = sorted(p.name for p in (outdir / "results").iterdir())
    assert len(files) == 24 and "morphine_fixed_child_pugh_b.h5" in files
    rows = list(csv.DictReader((outdir / "summary.csv").open()))
    assert {r["liver"] for r in rows} == {"healthy", "child_pugh_b"}
    # the printed table has every scenario in both liver states
    assert out.count("child_pugh_b") >= 12 and "hypothetical_drug" in out
    # cirrhosis: the same morphine regimen gives more side effects
    se = {(r["scenario"], r["liver"]): float(r["side_effect_burden [0-1]"]) for r in rows}
    assert se[("morphine_fixed", "child_pugh_b")] > se[("morphine_fixed", "healthy")]


def test_real_subprocess_exit_codes(tmp_path):
    """The installed entry point, as a user runs it: clean exit codes, no traceback."""
    good = subprocess.run([sys.executable, "-m", "neurosim.cli", "validate", "baseline"],
                          capture_output=True, text=True, timeout=300)
    assert good.returncode == 0 and "valid" in good.stdout
    bad = write(tmp_path, "bad", '"paracetamol 1 g po q6h", "unobtainium 5 mg po qd"')
    proc = subprocess.run([sys.executable, "-m", "neurosim.cli", "run", str(bad), "-o",
                           str(tmp_path / "x.h5")], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "unobtainium" in proc.stderr
    assert not (tmp_path / "x.h5").exists()


def test_version_and_citation_metadata_agree(capsys):
    # `neurosim --version`, the package and CITATION.cff name one version; the
    # citation file has the keys Citation File Format 1.2.0 requires.
    import re

    import neurosim

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"neurosim {neurosim.__version__}"
    cff = (Path(__file__).resolve().parents[1] / "CITATION.cff").read_text(encoding="utf-8")
    keys = dict(re.findall(r"^([a-z][a-z-]*):[ ]*(.*)$", cff, flags=re.M))
    assert {"cff-version", "message", "title", "authors"} <= keys.keys()
    assert keys["cff-version"] == "1.2.0"
    assert keys["version"] == neurosim.__version__
    assert keys["license"] == "BSD-3-Clause"


def test_file_names_from_long_scenario_names_are_cut():
    from neurosim._cli_common import safe_name

    assert safe_name("a" * 5000) == "a" * 100
    assert safe_name("x/y z") == "x_y_z" and safe_name("..") == "scenario"


def test_out_of_memory_is_a_message_not_a_traceback(capsys, monkeypatch):
    import neurosim.cli as cli

    def boom(args):
        raise MemoryError("Unable to allocate 909. TiB")

    parser_func = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with_func(parser_func(), boom))
    code = main(["params"])
    out, err = capsys.readouterr()
    assert code == 1 and "out of memory (Unable to allocate 909. TiB)" in err
    assert "Traceback" not in out + err


def _with_func(parser, func):
    """The parser, with every subcommand's function replaced by ``func``."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.set_defaults(func=func)
    return parser


def test_progress_auto_shows_a_bar_on_a_terminal_for_populations_only(tmp_path, capsys,
                                                                      monkeypatch):
    import argparse

    from neurosim._cli_common import run_progress

    def args(progress="auto", quiet=False, patients=None):
        return argparse.Namespace(progress=progress, quiet=quiet, patients=patients)

    one, population = (argparse.Namespace(population_size=k) for k in (1, 50))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert run_progress(args(patients=3), one) in ("tqdm", "text")  # text without tqdm
    assert run_progress(args(), population) in ("tqdm", "text")     # the scenario's population
    assert run_progress(args(), one) is None                        # one patient: nothing to follow
    assert run_progress(args(quiet=True, patients=3), one) is None
    assert run_progress(args("text"), one) == "text"                # asked for: always
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert run_progress(args(patients=3), one) is None              # a log or a pipe stays clean
    # end to end: --progress text reports the patients on stderr, auto off a terminal does not
    sc = write(tmp_path, "mor")
    code, _, err = run(["run", sc, "-o", tmp_path / "a.h5", "--patients", "2",
                        "--progress", "text"], capsys)
    assert code == 0 and "mor: " in err and "(100 %" in err
    code, _, err = run(["run", sc, "-o", tmp_path / "b.h5", "--patients", "2"], capsys)
    assert code == 0 and "(100 %" not in err
