"""``dlm show``: what dlm reads from a document, as text and as JSON; every bad input is one line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from dlmbuild.document.parse import parse_document
from tests.helpers import BAD_CASES, TWO_ADAPTERS, BadCase

BODY = """Shared prose.

::instruction::
### Q
q
### A
a

::preference#tone::
<!-- auto-synth teacher="t" -->
### Prompt
p
### Chosen
c
### Rejected
r
"""


@pytest.mark.parametrize("case", BAD_CASES, ids=[c.id for c in BAD_CASES])
def test_bad_input_is_one_line_exit_2_and_the_file_is_unchanged(case: BadCase, bad_case: Callable[[BadCase], Path], run_dlm):
    path = bad_case(case)
    before = path.read_bytes()
    commands = [("show", path), ("show", path, "--json")]
    if case.stage == "parse":  # migrate reads the document, not the files it ingests
        commands += [("migrate", path), ("migrate", "--dry-run", path)]
    for args in commands:
        r = run_dlm(*args)
        assert r.code == 2, (args, r.err)
        assert r.err == f"{path}:{case.expected}\n", args
        assert len(r.err.splitlines()) == 1
        assert r.out == ""
        assert "Traceback" not in r.err + r.out
        assert path.read_bytes() == before
    assert not list(path.parent.glob("*.bak"))


def test_show_missing_document(tmp_path: Path, run_dlm):
    r = run_dlm("show", tmp_path / "none.dlm")
    assert (r.code, r.out, r.err) == (2, "", f"{tmp_path / 'none.dlm'}: no such document\n")


def test_show_text(write_doc, run_dlm):
    path = write_doc(BODY, TWO_ADAPTERS + "  seed: 3\nsystem_prompt: Be brief.\n")
    doc = parse_document(path)
    prose, qa, pref = doc.sections
    r = run_dlm("show", path)
    assert (r.code, r.err) == (0, "")
    assert r.out.splitlines() == [
        f"{path}  (dlm_id 01HZZZZZZZZZZZZZZZZZZZZZZZ, schema v2)",
        "base: smollm2-135m",
        "adapters: knowledge, tone",
        "system prompt: Be brief.",
        "training: lora r=8 alpha=16.0 seq=512 lr=auto epochs=auto seed=3",
        "export: Q4_K_M temp=0.7 top_p=0.9",
        "",
        "3 sections",
        "   LINE  ID                TYPE         ADAPTERS              DETAIL",
        f"      9  {prose.id}  prose        knowledge,tone (all)  13 chars",
        f"     11  {qa.id}  instruction  knowledge             1 Q/A",
        f"     17  {pref.id}  preference   tone                  1 preference; auto-synth",
    ]


def test_show_json_is_the_stable_contract(write_doc, write_files, run_dlm):
    write_files({"notes/a.md": "Alpha.\n", "notes/b.bin": b"\x00\x01", "notes/c.log": "x"})
    extra = TWO_ADAPTERS + "  sources:\n    - path: notes\n      exclude: ['*.log']\n"
    path = write_doc(BODY, extra)
    doc = parse_document(path)
    r = run_dlm("show", path, "--json")
    assert (r.code, r.err) == (0, "")
    report = json.loads(r.out)
    assert list(report) == ["schema", "path", "dlm_id", "dlm_version", "migrated_from", "base_model", "system_prompt", "adapters", "config", "sections", "sources"]
    assert report["schema"] == "dlm.show/1"
    assert (report["path"], report["dlm_id"], report["dlm_version"], report["migrated_from"]) == (str(path), "01HZZZZZZZZZZZZZZZZZZZZZZZ", 2, None)
    assert report["adapters"] == ["knowledge", "tone"]
    assert report["config"]["training"]["adapters"] == {"knowledge": {k: None for k in report["config"]["training"]["adapters"]["knowledge"]}, "tone": report["config"]["training"]["adapters"]["tone"]}
    assert report["sections"][2] == {
        "id": doc.sections[2].id,
        "type": "preference",
        "adapter": "tone",
        "adapters": ["tone"],
        "line": 18,
        "fenced": True,
        "pairs": 0,
        "triples": 1,
        "chars": len(doc.sections[2].text),
        "attrs": {},
        "provenance": {"kind": "auto-synth", "teacher": "t"},
        "source_path": None,
    }
    assert [s["id"] for s in report["sections"]] == [s.id for s in doc.sections]
    src = report["sources"]
    assert (src["files"], src["bytes"], src["skipped"]) == (1, 6, {"binary_or_not_utf8": 1, "ignored": 1})
    assert [(s["source_path"], s["adapters"], s["line"], s["fenced"]) for s in src["sections"]] == [("notes/a.md", ["knowledge", "tone"], 0, False)]


def test_show_text_lists_sources(write_doc, write_files, run_dlm):
    write_files({f"notes/{i:02d}.md": f"note {i}" for i in range(12)} | {"notes/big.md": "x" * 50})
    path = write_doc("", "training:\n  sources:\n    - {path: notes, max_bytes_per_file: 40}\n")
    r = run_dlm("show", path)
    assert r.code == 0
    tail = r.out.splitlines()[-13:]
    assert tail[0] == ""
    assert tail[1] == "sources: 12 files ingested (74 bytes); skipped 1 too large"
    assert tail[2].startswith("  notes/00.md  ") and tail[2].endswith("  6 chars")
    assert tail[11].startswith("  notes/09.md  ")
    assert tail[-1] == "  … and 2 more (see --json)"


def test_show_v1_document_says_it_was_upgraded_in_memory(write_doc, run_dlm):
    path = write_doc("Body.\n", "dlm_version: 1\ntraining:\n  adapter_type: dora\n")
    before = path.read_bytes()
    r = run_dlm("show", path)
    assert r.out.splitlines()[0] == f"{path}  (dlm_id 01HZZZZZZZZZZZZZZZZZZZZZZZ, schema v2, upgraded in memory from v1; run `dlm migrate`)"
    assert "training: dora r=8" in r.out
    assert json.loads(run_dlm("show", path, "--json").out)["migrated_from"] == 1
    assert path.read_bytes() == before


def test_show_crlf_bom_document(write_doc, run_dlm):
    lf = json.loads(run_dlm("show", write_doc(BODY, TWO_ADAPTERS, name="lf.dlm"), "--json").out)
    crlf = json.loads(run_dlm("show", write_doc(BODY, TWO_ADAPTERS, name="crlf.dlm", newline="\r\n", bom=True), "--json").out)
    assert lf["sections"] == crlf["sections"]


def test_image_files_count_as_images_on_a_vision_base_and_as_skipped_elsewhere(tmp_path, run_dlm):
    import json as _json

    from tests.helpers import tiny_png

    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "harbour.png").write_bytes(tiny_png())
    (tmp_path / "pics" / "note.md").write_text("a note\n")
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "config.json").write_text(_json.dumps({"architectures": ["Idefics3ForConditionalGeneration"]}))
    doc = tmp_path / "doc.dlm"
    doc.write_text("---\ndlm_id: 01HZZZZZZZZZZZZZZZZZZZZZZZ\nbase_model: ./base\ntraining:\n  sources:\n    - path: pics\n---\n")
    vision = _json.loads(run_dlm("show", doc, "--json").out)["sources"]
    assert (vision["files"], vision["images"], vision["skipped"]) == (1, 1, {})
    doc.write_text(doc.read_text().replace("./base", "smollm2-135m"))
    text = _json.loads(run_dlm("show", doc, "--json").out)["sources"]
    assert (text["files"], text["images"], text["skipped"]) == (1, 0, {"images_need_a_vision_language_base": 1})
    assert "skipped 1 images need a vision language base" in run_dlm("show", doc).out
