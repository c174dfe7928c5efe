"""``dlm metrics``: the runs table, one run's steps, the JSON contract, the PNG plot, every refusal
as one line, and no model stack imported on the way."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest
from PIL import Image

import dlmbuild.train.metrics as metrics_module
from dlmbuild.store.layout import StoreLayout
from dlmbuild.train.metrics import MetricsDB
from dlmbuild.train.plot import PALETTE
from tests.helpers import DLM_ID

HEAVY = ("torch", "transformers", "peft", "trl", "accelerate", "datasets", "matplotlib")
ADAPTERS = "training:\n  adapters: [knowledge, tone, style]\n"
T0 = 1_700_000_000.0
PLAN = {"adapter": "knowledge", "kind": "lora", "r": 8, "alpha": 16.0, "learning_rate": 5e-4, "steps": 120,
        "micro_batch": 1, "grad_accum": 4, "seed": 7, "target_modules": ["q_proj", "v_proj"]}


def loss_at(step: int, scale: float) -> float:
    return scale * math.exp(-step / 30) + 0.5


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("DLM_HOME", str(home))
    return home


@pytest.fixture
def doc(write_doc) -> Path:
    return write_doc("Some prose.\n", ADAPTERS)


@pytest.fixture
def recorded(home: Path, doc: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Three runs recorded through the real MetricsDB with a controlled clock:
    1 knowledge, 120 steps, done in 125 s; 2 tone, 30 steps, a NaN loss at step 10, done in 3725 s;
    3 knowledge, 60 steps, still running (never finished)."""
    clock = {"now": T0}
    monkeypatch.setattr(metrics_module, "time", types.SimpleNamespace(time=lambda: clock["now"]))
    db = MetricsDB(StoreLayout(home, DLM_ID).metrics)
    for adapter, steps, scale, took, finish in (("knowledge", 120, 3.0, 125, True), ("tone", 30, 2.0, 3725, True),
                                                ("knowledge", 60, 2.5, 0, False)):
        run = db.start_run(adapter, "ab" * 32, PLAN | {"adapter": adapter, "steps": steps})
        for i in range(1, steps + 1):
            loss = math.nan if (adapter, i) == ("tone", 10) else loss_at(i, scale)
            db.log_step(run, i, loss, 5e-4 * (1 - i / steps), 512 * i, 1000.0 + i, 0.5 * i)
        if finish:
            clock["now"] += took
            db.finish_run(run, "done", loss_at(steps, scale), 1234.4)
        clock["now"] = T0 + 10_000 * run
    db.close()
    return doc


def local(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def test_runs_table_has_one_row_per_run(recorded: Path, run_dlm):
    r = run_dlm("metrics", recorded)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == f"3 training run(s) of {recorded}"
    assert lines[1].split() == ["RUN", "ADAPTER", "STATUS", "STEPS", "FINAL", "LOSS", "TOK/S", "STARTED", "DURATION"]
    rows = [line.split() for line in lines[2:]]
    assert rows == [
        ["1", "knowledge", "done", "120", f"{loss_at(120, 3.0):.4f}", "1234", *local(T0).split(), "2m05s"],
        ["2", "tone", "done", "30", f"{loss_at(30, 2.0):.4f}", "1234", *local(T0 + 10_000).split(), "1h02m"],
        ["3", "knowledge", "running", "60", "-", "-", *local(T0 + 20_000).split(), "-"],
    ]


def test_long_run_is_abbreviated_to_about_40_rows_with_a_footer(recorded: Path, run_dlm):
    r = run_dlm("metrics", recorded, "--run", "1")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == f"run 1 of {recorded}: adapter knowledge, done"
    assert lines[1] == f"started {local(T0)}, took 2m05s, final loss {loss_at(120, 3.0):.4f}, 1234 tok/s, key {'ab' * 8}"
    plan = lines[2:lines.index("")]  # wrapped at 100 columns, continued with an indent
    assert all(len(line) <= 100 for line in plan) and all(line.startswith("      ") for line in plan[1:])
    assert " ".join(line.strip() for line in plan) == ("plan: kind=lora r=8 alpha=16.0 learning_rate=0.0005 steps=120 "
                                                       "micro_batch=1 grad_accum=4 seed=7 target_modules=q_proj,v_proj")
    header = lines.index(next(line for line in lines if line.split()[:1] == ["STEP"]))
    assert lines[header].split() == ["STEP", "LOSS", "LR", "TOK/S"]
    rows = [line.split() for line in lines[header + 1:-1]]
    assert [int(row[0]) for row in rows] == [*range(1, 121, 3), 120]
    assert rows[0] == ["1", f"{loss_at(1, 3.0):.4f}", f"{5e-4 * (1 - 1 / 120):.2e}", "1001"]
    assert lines[-1] == "showing 41 of 120 recorded steps (one in 3, and the last); --json lists all"
    assert len(lines) < 50


def test_short_run_lists_every_step_and_shows_a_diverged_loss(recorded: Path, run_dlm):
    r = run_dlm("metrics", recorded, "--run", "2")
    assert r.code == 0, r.err
    rows = [line.split() for line in r.out.splitlines() if line.strip()[:1].isdigit()]
    assert [int(row[0]) for row in rows] == list(range(1, 31))
    assert rows[9][:2] == ["10", "nan"]
    assert "showing" not in r.out


def test_nan_loss_is_recorded_not_refused(recorded: Path, home: Path):
    """SQLite stores NaN as NULL; MetricsDB keeps the step and gives NaN back."""
    db = MetricsDB(StoreLayout(home, DLM_ID).metrics)
    steps = db.steps(2)
    db.close()
    assert len(steps) == 30 and math.isnan(steps[9]["loss"]) and steps[10]["loss"] == loss_at(11, 2.0)


def strict_json(text: str) -> dict:
    def refuse(constant: str):
        raise AssertionError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_json_lists_runs(recorded: Path, run_dlm):
    r = run_dlm("metrics", recorded, "--json")
    assert r.code == 0, r.err
    data = strict_json(r.out)
    assert data["schema"] == "dlm.metrics/1" and set(data) == {"schema", "runs"}
    first, second, third = data["runs"]
    assert first == {"id": 1, "adapter": "knowledge", "key": "ab" * 32, "status": "done", "started": T0,
                     "finished": T0 + 125, "duration_s": 125.0, "step_count": 120, "final_loss": loss_at(120, 3.0),
                     "tokens_per_s": 1234.4, "plan": PLAN}
    assert (second["adapter"], second["step_count"], second["duration_s"]) == ("tone", 30, 3725.0)
    assert (third["status"], third["finished"], third["duration_s"], third["final_loss"]) == ("running", None, None, None)

    only_tone = strict_json(run_dlm("metrics", recorded, "--json", "--adapter", "tone").out)
    assert [run["id"] for run in only_tone["runs"]] == [2]


def test_json_of_one_run_has_every_step_and_null_for_nan(recorded: Path, run_dlm):
    r = run_dlm("metrics", recorded, "--run", "2", "--json")
    assert r.code == 0, r.err
    data = strict_json(r.out)
    assert set(data) == {"schema", "run"} and data["schema"] == "dlm.metrics/1"
    run = data["run"]
    assert (run["id"], run["adapter"], run["step_count"]) == (2, "tone", 30)
    assert [s["step"] for s in run["steps"]] == list(range(1, 31))
    assert run["steps"][9]["loss"] is None
    assert run["steps"][0] == {"step": 1, "loss": loss_at(1, 2.0), "lr": 5e-4 * (1 - 1 / 30), "tokens": 512,
                               "tokens_per_s": 1001.0, "seconds": 0.5}


def colours(path: Path) -> set[tuple[int, int, int]]:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return {colour for _count, colour in image.convert("RGB").getcolors(maxcolors=1 << 20)}


def test_plot_draws_the_latest_run_of_each_adapter(recorded: Path, run_dlm, tmp_path: Path):
    png = tmp_path / "plots" / "loss.png"
    r = run_dlm("metrics", recorded, "--plot", png)
    assert r.code == 0, r.err
    assert r.out.splitlines()[-1] == f"wrote {png}"
    assert r.out.startswith("3 training run(s)")  # the table is still printed
    with Image.open(png) as image:
        assert image.size == (800, 480)
    seen = colours(png)
    assert {PALETTE[0], PALETTE[1]} <= seen  # two curves: tone (run 2) and knowledge (run 3)
    assert PALETTE[2] not in seen  # run 1 is superseded by run 3
    assert len(seen) > 10
    assert not [p for p in png.parent.iterdir() if p.name != "loss.png"]  # no temporary file left


def test_plot_of_one_run_with_json_keeps_stdout_json(recorded: Path, run_dlm, tmp_path: Path):
    png = tmp_path / "run1.png"
    r = run_dlm("metrics", recorded, "--run", "1", "--json", "--plot", png)
    assert r.code == 0, r.err
    assert strict_json(r.out)["run"]["id"] == 1
    assert r.err == f"wrote {png}\n"
    seen = colours(png)
    assert PALETTE[0] in seen and PALETTE[1] not in seen


def test_home_option_instead_of_the_environment(recorded: Path, home: Path, run_dlm, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DLM_HOME", str(home.parent / "elsewhere"))
    assert run_dlm("metrics", recorded).code == 2
    r = run_dlm("metrics", recorded, "--home", home)
    assert r.code == 0 and r.out.startswith("3 training run(s)")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--run", "9"), "dlm: unknown run 9; recorded runs: 1-3"),
        (("--adapter", "tne"), "dlm: unknown adapter 'tne' (did you mean 'tone'?) (known: knowledge, style, tone)"),
        (("--adapter", "style"), "dlm: no training runs recorded for adapter 'style' of {doc} yet; run 'dlm train {doc}'"),
        (("--adapter", "tone", "--run", "1"), "dlm: run 1 trained adapter 'knowledge', not 'tone'"),
        (("--plot", "loss.jpg"), "dlm: --plot loss.jpg: the plot is a PNG image; give a path ending in .png"),
        (("--plot", "loss"), "dlm: --plot loss: the plot is a PNG image; give a path ending in .png"),
    ],
    ids=["unknown-run", "unknown-adapter", "untrained-adapter", "run-of-other-adapter", "plot-not-png", "plot-no-suffix"],
)
def test_bad_requests_are_one_line_exit_2(recorded: Path, run_dlm, args: tuple[str, ...], expected: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)  # a relative plot path would land here
    before = sorted(p.name for p in tmp_path.iterdir())
    r = run_dlm("metrics", recorded, *args)
    assert r.code == 2
    assert r.err == expected.format(doc=recorded) + "\n"
    assert r.out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no plot written


def test_no_runs_yet_is_one_line_and_creates_nothing(doc: Path, home: Path, run_dlm):
    r = run_dlm("metrics", doc)
    assert (r.code, r.out) == (2, "")
    assert r.err == f"dlm: no training runs recorded for {doc} yet; run 'dlm train {doc}'\n"
    assert not home.exists()  # reading metrics never creates a store

    MetricsDB(StoreLayout(home, DLM_ID).metrics).close()  # a database with no runs in it
    r = run_dlm("metrics", doc, "--json")
    assert (r.code, r.out) == (2, "")
    assert r.err == f"dlm: no training runs recorded for {doc} yet; run 'dlm train {doc}'\n"


def test_unreadable_database_is_an_environment_error(doc: Path, home: Path, run_dlm):
    path = StoreLayout(home, DLM_ID).metrics
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a database, just bytes " * 100)
    r = run_dlm("metrics", doc)
    assert r.code == 3
    assert r.err == f"{path}: cannot read training metrics: file is not a database\n"


def test_bad_document_is_reported_like_dlm_show(tmp_path: Path, run_dlm):
    path = tmp_path / "broken.dlm"
    path.write_text("# no frontmatter\n")
    r = run_dlm("metrics", path)
    assert r.code == 2
    assert r.err == f"{path}:1:1: a .dlm document must start with a '---' line opening the frontmatter\n"


def test_metrics_and_plot_do_not_import_the_model_stack(recorded: Path, home: Path, tmp_path: Path):
    png = tmp_path / "loss.png"
    script = textwrap.dedent(
        f"""
        import sys
        from dlmbuild.cli.app import make_app

        app = make_app("metrics")
        for args in (["metrics", {str(recorded)!r}], ["metrics", {str(recorded)!r}, "--json"],
                     ["metrics", {str(recorded)!r}, "--run", "1", "--plot", {str(png)!r}]):
            app(args, standalone_mode=False)
        print("LOADED=" + ",".join(m for m in {HEAVY!r} if m in sys.modules))
        """
    )
    env = os.environ | {"DLM_HOME": str(home)}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert png.is_file()  # the commands really ran
    assert proc.stdout.splitlines()[-1] == "LOADED="


def test_a_run_without_steps_shows_so_and_has_nothing_to_plot(recorded: Path, home: Path, run_dlm, tmp_path: Path):
    db = MetricsDB(StoreLayout(home, DLM_ID).metrics)
    run = db.start_run("style", "cd" * 32, {})
    db.close()
    r = run_dlm("metrics", recorded, "--run", run)
    assert r.code == 0, r.err
    assert r.out.splitlines()[2:] == ["plan: (none recorded)", "", "no steps recorded"]

    png = tmp_path / "empty.png"
    r = run_dlm("metrics", recorded, "--run", run, "--plot", png)
    assert (r.code, r.out) == (2, "")  # refused before printing anything
    assert r.err == "dlm: nothing to plot: no finite loss recorded yet for run(s) 4\n"
    assert not png.exists()


def test_plot_without_pillow_is_an_environment_error(recorded: Path, run_dlm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "PIL" else real(name, *a))
    r = run_dlm("metrics", recorded, "--plot", tmp_path / "loss.png")
    assert (r.code, r.out) == (3, "")
    assert r.err == "dlm: --plot draws with Pillow, which is not installed (pip install pillow)\n"
