"""The data loop's second half on the real embedded base: on the ferry document that ``dlm synth``
taught (the session's ``ferry_loop``, copied), ``dlm preference mine --judge self --apply`` mines
triples from the adapter's own samples, and ``dlm build`` trains the preference phase on them
without retraining the supervised adapter; the result answers ``dlm prompt``."""

from __future__ import annotations

import json
import re
import shutil

import pytest

pytestmark = pytest.mark.slow


def test_mine_apply_and_train_the_preference_phase(ferry_loop, tmp_path, monkeypatch, run_dlm):
    from dlmbuild.document.edit import DocumentEditor
    from dlmbuild.document.parse import parse_document

    home = tmp_path / "home"
    shutil.copytree(ferry_loop["home"], home, symlinks=True)
    doc = tmp_path / "ferry.dlm"
    shutil.copy(ferry_loop["doc"], doc)
    shutil.copy(ferry_loop["doc"].with_name("dlm.lock"), tmp_path / "dlm.lock")
    monkeypatch.setenv("DLM_HOME", str(home))
    monkeypatch.setenv("DLM_THREADS", ferry_loop["env"]["DLM_THREADS"])
    editor = DocumentEditor(parse_document(doc))
    editor.set("training.preference.enabled", True)
    editor.write()

    # the adapter has memorized its answers: a hot sampler and 8 samples make them differ
    mined = run_dlm("preference", "mine", doc, "--judge", "self", "--samples", "8", "--temp", "1.5", "--threshold", "0",
                    "--apply", "--json", "--max-new-tokens", "32")
    assert mined.code == 0, mined.err
    result = json.loads(mined.out)
    triples = result["triples"]
    assert result["report"]["kept"] == len(triples) >= 1 and result["applied"]
    assert all(t["chosen"] != t["rejected"] and t["margin"] >= 0 for t in triples)
    assert doc.read_text().count('<!-- auto-mined judge="self"') >= 1

    built = run_dlm("build", doc)
    assert built.code == 0, built.err
    assert re.search(r"cached\s+:train-default", built.out)  # enabling the phase and adding triples keep SFT cached
    assert f":prefs-default: {len(triples)} preference pairs ({len(triples)} mined)" in built.err
    margin = re.search(r"reward margin ([+-][\d.]+) -> ([+-][\d.]+)", built.err)
    assert margin and float(margin.group(2)) > float(margin.group(1))

    answer = run_dlm("prompt", doc, "Who is the captain of the Quillmere ferry?", "--temp", "0", "--max-new-tokens", "24")
    assert answer.code == 0 and answer.out.strip()
