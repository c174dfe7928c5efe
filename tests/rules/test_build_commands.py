"""dlm build / graph / verify / --watch on a real (tiny) project, through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from dlmbuild.cli.app import main
from dlmbuild.cli.watch import watch_build


class Result:
    def __init__(self, exit_code: int, output: str, err: str):
        self.exit_code, self.output, self.err = exit_code, output, err


@pytest.fixture
def dlm(capsys, monkeypatch):
    """Run the real entry point (exit-code mapping included) in-process."""

    def run(*args) -> Result:
        monkeypatch.setattr(sys, "argv", ["dlm", *map(str, args)])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code or 0
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return run


def test_build_json_then_noop(trainable_dir, dlm):
    doc = trainable_dir / "doc.dlm"
    first = json.loads(dlm("build", doc, "--json").output)
    assert [(r["target"], r["status"]) for r in first] == [(":tokenize", "built"), (":data-default", "built"), (":train-default", "built")]
    assert "index.json" in first[0]["outputs"] and "adapter_model.safetensors" in first[2]["outputs"]
    second = json.loads(dlm("build", doc, "--json").output)
    assert [r["status"] for r in second] == ["cached"] * 3
    assert [r["output_hash"] for r in second] == [r["output_hash"] for r in first]


def test_unknown_target_suggests(project_dir, dlm):
    result = dlm("build", project_dir / "doc.dlm", ":export-olama")
    assert result.exit_code == 2
    assert result.err.strip() == "dlm: unknown target ':export-olama' (did you mean ':export-ollama'?); `dlm graph` lists them"


def test_an_unavailable_target_is_refused_before_anything_is_built(project_dir, dlm):
    doc = project_dir / "doc.dlm"
    result = dlm("build", doc, ":tokenize", ":pack", "--keep-going")
    assert result.exit_code == 2
    assert result.output == ""
    assert result.err == "dlm: :pack is not available as a build target yet: write a pack with `dlm pack DOC`\n"
    assert not (project_dir / "dlm.lock").exists()
    graph = json.loads(dlm("graph", doc, "--format", "json").output)
    assert {t["target"]: t["state"] for t in graph["targets"]}[":tokenize"] == "dirty"  # nothing was built


def test_dry_run_and_graph_show_unavailable_targets(project_dir, dlm):
    doc = project_dir / "doc.dlm"
    dry = dlm("build", doc, ":pack", "--dry-run")
    assert dry.exit_code == 0
    assert "  n/a     :pack" in dry.output and "because :pack is not available" in dry.output
    assert "  dirty   :train-default" in dry.output
    text = dlm("graph", doc).output
    assert any(line.startswith(":pack") and "unavailable" in line for line in text.splitlines())
    assert 'fillcolor=lightgrey, tooltip="unavailable"' in dlm("graph", doc, "--format", "dot").output
    assert ":pack (unavailable)" in dlm("graph", doc, "--format", "mermaid").output
    pack = {t["target"]: t for t in json.loads(dlm("graph", doc, "--format", "json").output)["targets"]}[":pack"]
    assert pack["state"] == "unavailable" and "not available as a build target yet" in pack["reasons"][0]
    assert ":pack" not in {t["target"] for t in json.loads(dlm("graph", doc, "--format", "json", "--dirty").output)["targets"]}


def test_graph_shows_states_and_reasons(project_dir, dlm):
    doc = project_dir / "doc.dlm"
    before = json.loads(dlm("graph", doc, "--format", "json").output)
    states = {t["target"]: t["state"] for t in before["targets"]}
    assert states[":tokenize"] == "dirty" and states[":gguf-q4_k_m"] == "dirty" and states[":pack"] == "unavailable"
    assert before["aliases"][":gguf"] == [":gguf-q4_k_m"]
    dlm("build", doc, ":tokenize")
    after = json.loads(dlm("graph", doc, "--format", "json", "--dirty").output)
    assert ":tokenize" not in {t["target"] for t in after["targets"]}
    assert dlm("graph", doc, "--format", "dot").output.startswith("digraph dlm {")
    assert dlm("graph", doc, "--format", "mermaid").output.startswith("graph LR")


def test_verify_passes_then_detects_a_tampered_lock(project_dir, dlm):
    doc = project_dir / "doc.dlm"
    assert dlm("build", doc, ":tokenize").exit_code == 0
    ok = dlm("verify", doc)
    assert ok.exit_code == 0, ok.output
    assert "verified: 1 target(s)" in ok.output
    lock = project_dir / "dlm.lock"
    text = lock.read_text()
    output = [line for line in text.splitlines() if line.startswith("output = ")][0]
    lock.write_text(text.replace(output, 'output = "0000000000000000deadbeefdeadbeef"'))
    bad = dlm("verify", doc)
    assert bad.exit_code == 4
    assert "MISMATCH  :tokenize" in bad.err


def test_frozen_refuses_a_changed_lock(project_dir, dlm):
    doc = project_dir / "doc.dlm"
    dlm("build", doc, ":tokenize")
    doc.write_text(doc.read_text().replace("the item is of value", "the item is a value"))
    before = (project_dir / "dlm.lock").read_text()
    result = dlm("build", doc, ":tokenize", "--frozen")
    assert result.exit_code == 1
    assert "--frozen: :tokenize does not match dlm.lock" in result.err
    assert (project_dir / "dlm.lock").read_text() == before


def test_noop_build_and_graph_do_not_import_torch(trainable_dir, dlm):
    doc = trainable_dir / "doc.dlm"
    assert dlm("build", doc).exit_code == 0  # trains
    script = (
        "import sys; from dlmbuild.cli.app import make_app\n"
        "for args in (['build', sys.argv[1]], ['graph', sys.argv[1]], ['show', sys.argv[1]]):\n"
        "    try: make_app()(args)\n"
        "    except SystemExit: pass\n"
        "print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(doc)], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_watch_rebuilds_after_an_edit(project_dir, dlm):
    doc = project_dir / "doc.dlm"
    stop = threading.Event()
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("builds", watch_build(doc, [], max_builds=2, stop=stop, debounce_ms=100)))
    thread.start()
    lock = project_dir / "dlm.lock"
    deadline = time.time() + 30
    while not lock.exists() and time.time() < deadline:
        time.sleep(0.1)
    first = lock.read_text()
    doc.write_text(doc.read_text().replace("the item is of value", "the item is the value"))
    while lock.read_text() == first and time.time() < deadline:
        time.sleep(0.1)
    stop.set()
    thread.join(timeout=30)
    assert lock.read_text() != first
    assert result["builds"] == 2


def test_watch_cancels_a_running_build_and_rebuilds_the_edit(project_dir, dlm, monkeypatch):
    """An edit while ``:tokenize`` runs cancels that build (the action sees its cancel flag), and
    the build started next reads the edited document and completes."""
    from dlmbuild.rules import tokenize

    real = tokenize.run
    doc = project_dir / "doc.dlm"
    first_running, rebuilt = threading.Event(), threading.Event()
    seen: list[tuple[str, str]] = []

    def slow_run(ctx):
        text = ctx.project.doc.source.text
        if not first_running.is_set():
            first_running.set()
            deadline = time.monotonic() + 30
            while not ctx.cancelled.is_set() and time.monotonic() < deadline:
                time.sleep(0.01)
            seen.append(("cancelled" if ctx.cancelled.is_set() else "ran on", text))
            ctx.check_cancelled()
        real(ctx)
        seen.append(("built", text))
        rebuilt.set()

    monkeypatch.setattr(tokenize, "run", slow_run)
    stop = threading.Event()
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault(
        "builds", watch_build(doc, [":tokenize"], stop=stop, debounce_ms=50, as_json=True)))
    thread.start()
    try:
        assert first_running.wait(30)
        doc.write_text(doc.read_text().replace("the item is of value", "the item is a value"))
        assert rebuilt.wait(60)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert [what for what, _ in seen] == ["cancelled", "built"]
    assert "the item is of value" in seen[0][1] and "the item is a value" in seen[1][1]
    assert result["builds"] == 2
    out = dlm("build", doc, ":tokenize")
    lines = out.output.splitlines()  # --json under --watch: one line per finished build
    assert len(lines) == 2 and [r["status"] for r in json.loads(lines[0])] == ["built"]
    assert "build cancelled" in out.err
    assert lines[1] == "  cached  :tokenize"  # what the watch built is the edited document
