"""The no-op stamp: an unchanged build answers from stat checks alone; any change falls through."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from dlmbuild.cli.build import run_build
from dlmbuild.engine.stamp import check_stamp, stamp_path, write_stamp
from tests.rules.conftest import age, project_dir  # noqa: F401 (fixture)


def _home() -> Path:
    return Path(os.environ["DLM_HOME"])


def test_stamp_matches_until_any_recorded_path_changes(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("one")
    age(tmp_path)
    time.sleep(0.15)  # aging sets ctime to now: step out of the racy window
    write_stamp(tmp_path / "home", tmp_path / "doc.dlm", [], [str(a), str(b)], [], [str(tmp_path)], ["  cached  :x"], time.time_ns())
    assert check_stamp(tmp_path / "home", tmp_path / "doc.dlm", []) == ["  cached  :x"]
    assert check_stamp(tmp_path / "home", tmp_path / "doc.dlm", [":other"]) is None  # other targets, other stamp
    b.write_text("now exists")
    assert check_stamp(tmp_path / "home", tmp_path / "doc.dlm", []) is None


def test_an_input_changed_during_the_build_is_never_stamped(project_dir):
    """The stamp must describe what the build read: an edit saved while it ran means no stamp."""
    doc = project_dir / "doc.dlm"
    time.sleep(0.15)
    import dlmbuild.cli.build as build

    real = build._stamp

    def edit_then_stamp(project, targets, results, started_ns):
        doc.write_text(doc.read_text().replace("the item is of value", "the item is a value"))
        os.utime(doc, (time.time() - 3600, time.time() - 3600))  # even an old mtime: ctime is now
        real(project, targets, results, started_ns)

    build._stamp = edit_then_stamp
    try:
        assert run_build(doc, [":tokenize"], quiet=True) == 0
    finally:
        build._stamp = real
    assert check_stamp(_home(), doc, [":tokenize"]) is None


def test_builds_with_output_changing_options_write_no_stamp(project_dir):
    doc = project_dir / "doc.dlm"
    time.sleep(0.15)
    assert run_build(doc, [":tokenize"], quiet=True, replay=False) == 0
    assert check_stamp(_home(), doc, [":tokenize"]) is None


def test_racy_paths_are_never_stamped(tmp_path):
    a = tmp_path / "a.txt"
    a.write_text("just written")
    write_stamp(tmp_path / "home", tmp_path / "doc.dlm", [], [str(a)], [], [], [], time.time_ns())
    assert not stamp_path(tmp_path / "home", tmp_path / "doc.dlm", []).exists()


def test_build_writes_a_stamp_that_survives_a_noop_and_not_an_edit(project_dir):
    doc = project_dir / "doc.dlm"
    time.sleep(0.15)
    assert run_build(doc, [":tokenize"], quiet=True) == 0
    assert check_stamp(_home(), doc, [":tokenize"]) == ["  cached  :tokenize"]
    (project_dir / "notes" / "c.md").write_text("the new note\n")  # a new file: its folder changed
    assert check_stamp(_home(), doc, [":tokenize"]) is None
    age(project_dir)
    time.sleep(0.15)
    assert run_build(doc, [":tokenize"], quiet=True) == 0
    assert check_stamp(_home(), doc, [":tokenize"]) is not None
    (project_dir / "notes" / ".dlm").mkdir()
    assert check_stamp(_home(), doc, [":tokenize"]) is None  # rules may now apply there


def test_cleared_cache_invalidates_the_stamp(project_dir):
    doc = project_dir / "doc.dlm"
    time.sleep(0.15)
    assert run_build(doc, [":tokenize"], quiet=True) == 0
    import shutil

    shutil.rmtree(_home() / "store")
    assert check_stamp(_home(), doc, [":tokenize"]) is None


def test_noop_cli_build_answers_without_importing_typer_or_pydantic(project_dir):
    doc = project_dir / "doc.dlm"
    time.sleep(0.15)
    assert run_build(doc, [":tokenize"], quiet=True) == 0
    time.sleep(0.01)
    script = (
        "import sys; sys.argv = ['dlm', 'build', sys.argv[1], ':tokenize']\n"
        "from dlmbuild.cli.app import main\n"
        "main()\n"
        "print(sorted(m for m in ('typer', 'pydantic', 'lark', 'networkx', 'torch') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(doc)], capture_output=True, text=True, check=True, env=os.environ)
    assert out.stdout.splitlines() == ["  cached  :tokenize", "[]"]
