"""``dlm synth`` on the real embedded base: teacher ``base`` writes questions for a prose-only
document, ``--apply`` puts them in, ``dlm build`` trains on them, ``dlm eval`` finds them
answered; then teacher ``self`` (the adapter just trained) and ``gguf:`` (the embedded GGUF
through llama.cpp) each stage pairs from the same prose."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.slow

from tests.conftest import FERRY_DOC as DOC  # noqa: E402


def test_synth_base_apply_build_eval_then_self_and_gguf(ferry_loop, tmp_path, monkeypatch, run_dlm):
    from dlmbuild.bases.embedded import locate_gguf

    for key, value in ferry_loop["env"].items():
        monkeypatch.setenv(key, value)
    doc = ferry_loop["doc"]
    result = ferry_loop["synth"]
    pairs = result["pairs"]
    assert result["report"]["kept"] == len(pairs) >= 3
    assert all(p["question"].endswith("?") and p["answer"] in DOC.replace("\n", " ") for p in pairs)  # grounded: the document's sentences
    assert all(p["gain"] > 0 for p in pairs)
    text = ferry_loop["applied"]
    assert text.count('<!-- auto-synth teacher="base" strategy="extraction"') == 1 and text.startswith(DOC)  # one prose section; its bytes kept
    assert f"{len(pairs)}/{len(pairs)} answers reproduced after" in ferry_loop["build"].err

    probes = tmp_path / "synth.tsv"  # each synthesized question, passed by a specific of its answer it does not name
    rows = []
    for pair in pairs:
        asked = pair["question"].casefold()
        keys = [w for w in re.findall(r"[A-Z][a-z]+|\d+|forty|eleven|six", pair["answer"]) if w.casefold() not in asked]
        if keys:
            rows.append(f"trained\t{pair['question']}\t{re.escape(keys[-1].lower())}\n")
    assert len(rows) >= 2
    probes.write_text("".join(rows))
    scored = run_dlm("eval", doc, probes, "--baseline", "base", "--json")
    assert scored.code == 0, scored.err
    summary = json.loads(scored.out)["summary"]
    assert summary["adapter"]["trained"]["score"] >= 0.8 > summary["base"]["trained"]["score"]

    own = run_dlm("synth", "instructions", doc, "--teacher", "self", "--filter", "dedup-only", "--per-section", "1")
    assert own.code == 0, own.err
    assert "teacher self" in own.out and re.search(r"staged \d+ pair\(s\)", own.out)

    gguf = locate_gguf().gguf
    served = run_dlm("synth", "instructions", doc, "--teacher", f"gguf:{gguf}", "--filter", "dedup-only", "--per-section", "1",
                     "--max-new-tokens", "96")
    assert served.code == 0, served.err
    assert re.search(r"filter: \d+ generated from 2 requests", served.out)
