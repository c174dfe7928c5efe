"""dlmbuild.document.edit: lossless editing. Every byte that is not the edit stays as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlmbuild.document.edit import DocumentEditor
from dlmbuild.document.parse import Document, parse_bytes, parse_document
from dlmbuild.document.render import SectionDraft
from dlmbuild.document.sections import Provenance, SectionType
from dlmbuild.errors import DlmError, DocumentError

DOC = """---
# Settings for the tutor.
dlm_id: 01HZZZZZZZZZZZZZZZZZZZZZZZ
base_model:   smollm2-135m    # odd spacing
system_prompt: 'Be brief.'
training:
  lora_r: 8          # rank
  adapters:
    knowledge: {}
    tone:
      lora_r: 4

  seed: 42
export:
  default_quant: Q4_K_M
---
Intro prose.

::instruction::
### Q
q1

### A
a1

::prose#tone::
Tone.
"""


def parse(text: str = DOC, bom: bool = False) -> Document:
    return parse_bytes("doc.dlm", (b"\xef\xbb\xbf" if bom else b"") + text.encode())


def edited(text: str = DOC, **ops) -> str:
    editor = DocumentEditor(parse(text))
    for op, args in ops.items():
        getattr(editor, op)(*args)
    return editor.render()


def replaced(old: str, new: str, text: str = DOC) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


# ------------------------------------------------------------------ no edits


ODD_DOCS = [
    DOC,
    DOC.replace("\n", "\r\n"),
    DOC.rstrip("\n"),
    "---\n\n# only comments and odd spacing\ndlm_id:    01HZZZZZZZZZZZZZZZZZZZZZZZ   \nbase_model: \"smollm2-135m\"\n\n\n---   \n\n\n  indented prose  \n\t\n::prose::   \n\n\n",
    "---\r\ndlm_id: 01HZZZZZZZZZZZZZZZZZZZZZZZ\nbase_model: smollm2-135m\r\n---\nmixed\r\nendings\n",
]


@pytest.mark.parametrize("bom", [False, True])
@pytest.mark.parametrize("text", ODD_DOCS, ids=["lf", "crlf", "no-final-newline", "odd-spacing", "mixed-endings"])
def test_no_edits_is_byte_identical(tmp_path: Path, text: str, bom: bool):
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    path = tmp_path / "doc.dlm"
    path.write_bytes(data)
    doc = parse_document(path)
    editor = DocumentEditor(doc)
    assert editor.render() == text
    editor.write()
    assert path.read_bytes() == data
    copy = tmp_path / "copy.dlm"
    DocumentEditor(doc).write(copy)
    assert copy.read_bytes() == data


# ------------------------------------------------------------------ frontmatter: set


def test_set_existing_value_replaces_only_its_characters():
    assert edited(set=("training.lora_r", 16)) == replaced("  lora_r: 8          # rank", "  lora_r: 16          # rank")


def test_set_nested_value():
    assert edited(set=("training.adapters.tone.lora_r", 2)) == replaced("      lora_r: 4\n", "      lora_r: 2\n")


def test_set_quoted_string_value():
    new = edited(set=("system_prompt", 'Be kind: "always".'))
    assert new == replaced("system_prompt: 'Be brief.'", 'system_prompt: "Be kind: \\"always\\"."')
    assert parse(new).config.system_prompt == 'Be kind: "always".'


def test_set_value_with_odd_spacing_keeps_the_spacing_and_comment():
    assert edited(set=("base_model", "qwen2.5-0.5b")) == replaced("base_model:   smollm2-135m    # odd spacing", "base_model:   qwen2.5-0.5b    # odd spacing")


def test_set_flow_mapping_value():
    assert edited(set=("training.adapters.knowledge", {"lora_r": 2})) == replaced("    knowledge: {}\n", "    knowledge: {lora_r: 2}\n")


def test_set_block_mapping_to_a_flow_value_keeps_what_follows():
    new = edited(set=("training.adapters", {"knowledge": {}, "tone": {}}))
    assert new == replaced("  adapters:\n    knowledge: {}\n    tone:\n      lora_r: 4\n", "  adapters: {knowledge: {}, tone: {}}\n")


def test_set_block_list_to_a_flow_list():
    text = replaced("  seed: 42\n", "  target_modules:\n    - q_proj   # queries\n    - v_proj\n  seed: 42\n")
    assert edited(text, set=("training.target_modules", ["k_proj"])) == replaced(
        "  target_modules:\n    - q_proj   # queries\n    - v_proj\n", "  target_modules: [k_proj]\n", text
    )


def test_set_a_key_with_no_value():
    text = replaced("system_prompt: 'Be brief.'\n", "system_prompt:    # to do\n")
    assert edited(text, set=("system_prompt", "Hi.")) == replaced("system_prompt:    # to do\n", "system_prompt: Hi.    # to do\n", text)


@pytest.mark.parametrize("style", ["|", ">", "|-", ">+"])
def test_set_a_block_scalar_value(style: str):
    """A block scalar's end mark lies at the start of the next key's line; splicing there used to
    glue the new value to that line (``system_prompt: "x"training:``)."""
    text = replaced("system_prompt: 'Be brief.'\n", f"system_prompt: {style}\n  Be brief.\n  Be kind.\n")
    new = edited(text, set=("system_prompt", "Short."))
    assert new == replaced(f"system_prompt: {style}\n  Be brief.\n  Be kind.\n", "system_prompt: Short.\n", text)
    assert parse(new).config.system_prompt == "Short."


def test_set_float_in_exponent_form_stays_a_float():
    new = edited(set=("training.preference", {"enabled": False, "learning_rate": 1e-5}))
    assert "  preference: {enabled: false, learning_rate: 1.0e-05}\n" in new
    assert parse(new).config.training.preference.learning_rate == 1e-5


# ------------------------------------------------------------------ frontmatter: add


def test_add_key_goes_after_its_last_sibling_at_their_indentation():
    assert edited(set=("training.num_epochs", 3)) == replaced("  seed: 42\n", "  seed: 42\n  num_epochs: 3\n")


def test_add_key_with_missing_parents():
    assert edited(set=("training.preference.enabled", True)) == replaced("  seed: 42\n", "  seed: 42\n  preference:\n    enabled: true\n")


def test_add_top_level_key():
    text = replaced("system_prompt: 'Be brief.'\n", "")
    assert edited(text, set=("system_prompt", "Hi")) == replaced("  default_quant: Q4_K_M\n", "  default_quant: Q4_K_M\nsystem_prompt: Hi\n", text)


def test_add_top_level_block_when_missing():
    text = replaced("export:\n  default_quant: Q4_K_M\n", "")
    assert edited(text, set=("export.targets", ["ollama"])) == replaced("  seed: 42\n", "  seed: 42\nexport:\n  targets: [ollama]\n", text)


def test_add_key_uses_the_document_indent_unit():
    text = "---\ndlm_id: 01HZZZZZZZZZZZZZZZZZZZZZZZ\nbase_model: smollm2-135m\ntraining:\n    seed: 1\n---\n"
    assert edited(text, set=("training.gate.enabled", True)) == replaced("    seed: 1\n", "    seed: 1\n    gate:\n        enabled: true\n", text)


def test_add_key_after_a_block_scalar():
    text = replaced("system_prompt: 'Be brief.'\ntraining:", "training:").replace("export:\n  default_quant: Q4_K_M\n", "system_prompt: |\n  Be brief.\n# trailing comment\n")
    assert edited(text, set=("dlm_version", 2)) == replaced("  Be brief.\n", "  Be brief.\ndlm_version: 2\n", text)


def test_add_key_inside_a_flow_mapping_is_refused():
    with pytest.raises(DlmError) as info:
        edited(set=("training.adapters.knowledge.lora_r", 2))
    assert str(info.value) == "cannot add a key inside the flow mapping 'training.adapters.knowledge'"


def test_add_key_with_crlf_uses_crlf():
    text = DOC.replace("\n", "\r\n")
    new = edited(text, set=("training.num_epochs", 3))
    assert new == replaced("  seed: 42\r\n", "  seed: 42\r\n  num_epochs: 3\r\n", text)
    assert new.count("\n") == new.count("\r\n")


# ------------------------------------------------------------------ frontmatter: delete and rename


def test_delete_key_removes_its_line_only():
    assert edited(delete=("training.lora_r",)) == replaced("  lora_r: 8          # rank\n", "")


def test_delete_block_mapping_removes_its_lines():
    text = replaced("::prose#tone::", "::prose::")
    assert edited(text, delete=("export",)) == replaced("export:\n  default_quant: Q4_K_M\n", "", text)


def test_delete_block_scalar_keeps_the_next_key():
    text = replaced("system_prompt: 'Be brief.'\n", "system_prompt: |\n  Be brief.\n")
    assert edited(text, delete=("system_prompt",)) == replaced("system_prompt: |\n  Be brief.\n", "", text)


def test_delete_missing_key_is_a_no_op():
    assert edited(delete=("training.max_steps",)) == DOC


def test_rename_key_replaces_the_key_token_only():
    text = replaced("  lora_r: 8          # rank", "  lora_alpha: 8          # rank")
    assert edited(rename_key=("training.lora_r", "lora_alpha")) == text


def test_rename_missing_key_is_refused():
    with pytest.raises(DlmError) as info:
        edited(rename_key=("training.nope", "x"))
    assert str(info.value) == "frontmatter has no key 'training.nope' to rename"


def test_several_frontmatter_edits_apply_in_order():
    editor = DocumentEditor(parse())
    editor.set("training.lora_r", 4)
    editor.rename_key("training.lora_r", "lora_alpha")
    editor.set("training.lora_r", 2)
    editor.delete("export")
    expected = replaced("  lora_r: 8          # rank", "  lora_alpha: 4          # rank")
    expected = replaced("  seed: 42\n", "  seed: 42\n  lora_r: 2\n", expected)
    expected = replaced("export:\n  default_quant: Q4_K_M\n", "", expected)
    assert editor.render() == expected
    assert editor.result().config.training.lora_alpha == 4


# ------------------------------------------------------------------ sections


QA_DRAFT = SectionDraft(SectionType.INSTRUCTION, pairs=(("q2", "a2"),), adapter="tone")
QA_TEXT = "::instruction#tone::\n### Q\nq2\n\n### A\na2\n"


def test_add_section_at_the_end():
    assert edited(add_section=(QA_DRAFT,)) == DOC + "\n" + QA_TEXT


def test_add_section_to_a_document_without_final_newline():
    assert edited(DOC.rstrip("\n"), add_section=(QA_DRAFT,)) == DOC + "\n" + QA_TEXT


def test_add_section_to_a_document_without_body():
    text = DOC.split("---\nIntro")[0] + "---\n"
    text = replaced("    tone:\n      lora_r: 4\n", "    tone: {}\n", text)
    assert edited(text, add_section=(QA_DRAFT,)) == text + "\n" + QA_TEXT


def test_add_section_after_a_section_keeps_every_other_byte():
    doc = parse()
    editor = DocumentEditor(doc)
    editor.add_section(QA_DRAFT, after=doc.sections[0].id)
    assert editor.render() == replaced("Intro prose.\n\n", "Intro prose.\n\n" + QA_TEXT + "\n")


def test_add_section_after_the_last_section():
    doc = parse()
    editor = DocumentEditor(doc)
    editor.add_section(QA_DRAFT, after=doc.sections[-1].id)
    assert editor.render() == DOC + "\n" + QA_TEXT


def test_added_sections_keep_their_order():
    editor = DocumentEditor(parse())
    editor.add_section(SectionDraft(SectionType.PROSE, text="one"))
    editor.add_section(SectionDraft(SectionType.PROSE, text="two"))
    assert editor.render() == DOC + "\n::prose::\none\n\n::prose::\ntwo\n"


def test_remove_section_keeps_the_others_with_their_fences_and_routing():
    doc = parse()
    editor = DocumentEditor(doc)
    editor.remove_section(doc.sections[1].id)
    new = editor.render()
    assert new == replaced("::instruction::\n### Q\nq1\n\n### A\na1\n\n", "")
    after = editor.result()
    kept = [(s.id, s.type, s.adapter, s.adapters, s.fenced) for s in after.sections]
    assert kept == [(s.id, s.type, s.adapter, s.adapters, s.fenced) for s in (doc.sections[0], doc.sections[2])]


def test_remove_the_last_and_the_unfenced_section():
    doc = parse()
    editor = DocumentEditor(doc)
    editor.remove_section(doc.sections[0].id)
    editor.remove_section(doc.sections[2].id)
    assert editor.render() == replaced("Intro prose.\n\n", "").replace("::prose#tone::\nTone.\n", "")


def test_replace_a_section_in_place():
    doc = parse()
    editor = DocumentEditor(doc)
    editor.remove_section(doc.sections[1].id)
    editor.add_section(QA_DRAFT, after=doc.sections[1].id)
    assert editor.render() == replaced("::instruction::\n### Q\nq1\n\n### A\na1\n\n", QA_TEXT + "\n")


def test_section_edits_with_crlf_and_bom(tmp_path: Path):
    text = DOC.replace("\n", "\r\n")
    path = tmp_path / "doc.dlm"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    doc = parse_document(path)
    editor = DocumentEditor(doc)
    editor.remove_section(doc.sections[1].id)
    editor.add_section(SectionDraft(SectionType.PROSE, text="new\nlines", provenance=Provenance("auto-mined")))
    written = editor.write()
    expected = replaced("::instruction::\r\n### Q\r\nq1\r\n\r\n### A\r\na1\r\n\r\n", "", text) + "\r\n::prose::\r\n<!-- auto-mined -->\r\nnew\r\nlines\r\n"
    assert path.read_bytes() == b"\xef\xbb\xbf" + expected.encode()
    assert [s.text for s in written.sections] == ["Intro prose.", "Tone.", "new\nlines"]
    assert written.sections[-1].provenance == Provenance("auto-mined")


def test_frontmatter_and_section_edits_together():
    doc = parse()
    editor = DocumentEditor(doc)
    editor.set("training.seed", 7)
    editor.remove_section(doc.sections[1].id)
    editor.add_section(QA_DRAFT)
    expected = replaced("  seed: 42\n", "  seed: 7\n")
    expected = replaced("::instruction::\n### Q\nq1\n\n### A\na1\n\n", "", expected) + "\n" + QA_TEXT
    assert editor.render() == expected


def test_draft_containing_a_fence_line_is_refused_and_nothing_is_written(tmp_path: Path):
    path = tmp_path / "doc.dlm"
    path.write_text(DOC)
    editor = DocumentEditor(parse_document(path))
    editor.add_section(SectionDraft(SectionType.PROSE, text="fine\n::instruction::\n### Q\nx"))
    with pytest.raises(DlmError) as info:
        editor.write()
    assert str(info.value) == "text has a line that would read as a section fence: '::instruction::'"
    assert path.read_text() == DOC


def test_edit_producing_an_invalid_document_is_refused_and_nothing_is_written(tmp_path: Path):
    path = tmp_path / "doc.dlm"
    path.write_text(DOC)
    editor = DocumentEditor(parse_document(path))
    editor.delete("training.adapters")  # '::prose#tone::' would route to an undeclared adapter
    with pytest.raises(DocumentError) as info:
        editor.write()
    assert str(info.value) == f"{path}:22:9: unknown adapter 'tone' (declared: default)"
    assert path.read_text() == DOC
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.dlm"]  # no temp file left behind


def test_unknown_section_ids_are_refused():
    editor = DocumentEditor(parse())
    with pytest.raises(KeyError):
        editor.remove_section("0000000000000000")
    with pytest.raises(KeyError):
        editor.add_section(QA_DRAFT, after="0000000000000000")
