"""``dlm templates``: list the scaffolds, print one; ``dlm init --template`` reads the same list."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from dlmbuild.cli.scaffolds import SCAFFOLDS, shipped_scaffolds
from dlmbuild.document.parse import parse_bytes
from dlmbuild.document.schema import ULID_PATTERN

REPO = Path(__file__).resolve().parents[2]


def test_the_table_lists_exactly_the_shipped_files():
    assert sorted(SCAFFOLDS) == shipped_scaffolds() == ["audio", "blank", "multi-adapter", "multimodal", "tutor"]


def test_templates_lists_each_scaffold_with_its_description(run_dlm):
    r = run_dlm("templates")
    assert (r.code, r.err) == (0, "")
    assert r.out == (
        "tutor          a system prompt, explicit training settings, a prose section and one Q/A pair\n"
        "multi-adapter  adapters knowledge and tone, shared prose, a Q/A pair for each\n"
        "blank          frontmatter only: dlm_id, dlm_version, base_model\n"
        "multimodal     a vision-language base: an example image with its caption and a question about it\n"
        "audio          a speech base: an example clip with its exact transcript\n"
    )


def test_show_prints_a_valid_document_like_init_writes(tmp_path: Path, run_dlm):
    r = run_dlm("templates", "show", "tutor")
    assert (r.code, r.err) == (0, "")
    doc = parse_bytes(tmp_path / "shown.dlm", r.out.encode("utf-8"))
    assert re.fullmatch(ULID_PATTERN, doc.config.dlm_id)
    assert doc.config.base_model == "smollm2-135m"
    assert [s.type.value for s in doc.sections] == ["prose", "instruction"]
    init = run_dlm("init", tmp_path / "init.dlm", "--template", "tutor")
    assert init.code == 0
    written = (tmp_path / "init.dlm").read_text()
    assert r.out.replace(doc.config.dlm_id, "ID") == written.replace(re.search(r"dlm_id: (\S+)", written)[1], "ID")


def test_show_multi_adapter(run_dlm):
    r = run_dlm("templates", "show", "multi-adapter")
    assert r.code == 0
    assert "  adapters:\n    knowledge: {}" in r.out and "::instruction#tone::" in r.out


def test_unknown_template_is_one_line_with_a_hint(run_dlm):
    r = run_dlm("templates", "show", "tutr")
    assert (r.code, r.out) == (2, "")
    assert r.err == "dlm: unknown template 'tutr' (did you mean 'tutor'?); choose from tutor, multi-adapter, blank, multimodal, audio\n"


def test_init_and_templates_refuse_alike(tmp_path: Path, run_dlm):
    init = run_dlm("init", tmp_path / "x.dlm", "--template", "blnk")
    shown = run_dlm("templates", "show", "blnk")
    assert init.code == shown.code == 2
    assert init.err == shown.err == "dlm: unknown template 'blnk' (did you mean 'blank'?); choose from tutor, multi-adapter, blank, multimodal, audio\n"


def test_templates_does_not_import_torch():
    code = ("import sys; from dlmbuild.cli.app import run_cli; run_cli(['templates']); "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert out.splitlines()[-1] == "False False"
