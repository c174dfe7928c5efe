"""dlmbuild.document.migrate: old schema versions are upgraded in memory on read."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlmbuild.document.migrate import MIGRATIONS, pending_migrations, upgrade_data, version_of
from dlmbuild.document.parse import parse_bytes, parse_document
from dlmbuild.document.schema import CURRENT_DLM_VERSION
from dlmbuild.errors import DocumentError
from tests.helpers import BASE, DLM_ID

V1 = f"""---
# A document from the draft schema.
dlm_id: {DLM_ID}
dlm_version: 1   # old
base_model: {BASE}
training:
  adapter_type: qlora   # small GPU
  lora_r: 4
export:
  quant: Q8_0
  temperature: 0.5
  top_p: 0.8
---
Body text.

::instruction::
### Q
q
### A
a
"""


def test_v1_dict_is_upgraded_without_touching_the_input():
    data = {"dlm_version": 1, "training": {"adapter_type": "dora", "seed": 1}, "export": {"quant": "F16"}}
    out, version = upgrade_data(data)
    assert version == 1
    assert out == {"dlm_version": 2, "training": {"adapter": "dora", "seed": 1}, "export": {"default_quant": "F16"}}
    assert data["training"] == {"adapter_type": "dora", "seed": 1}  # a copy was upgraded


def test_current_and_unversioned_data_is_returned_as_is():
    data = {"dlm_version": 2, "training": {"adapter": "lora"}}
    assert upgrade_data(data) == (data, None)
    assert upgrade_data(data)[0] is data
    assert upgrade_data({"training": {}}) == ({"training": {}}, None)


@pytest.mark.parametrize("version", [0, -1, 99])
def test_unknown_versions_are_left_to_the_schema(version: int):
    data = {"dlm_version": version, "training": {"adapter_type": "lora"}}
    assert upgrade_data(data) == (data, None)


def test_upgrade_does_not_clobber_a_key_already_in_the_new_form():
    data = {"dlm_version": 1, "training": {"adapter_type": "dora", "adapter": "lora"}}
    out, _ = upgrade_data(data)
    assert out["training"] == {"adapter_type": "dora", "adapter": "lora"}


def test_upgrade_tolerates_non_mapping_parents():
    out, version = upgrade_data({"dlm_version": 1, "training": None, "export": [1]})
    assert (out, version) == ({"dlm_version": 2, "training": None, "export": [1]}, 1)


@pytest.mark.parametrize(("data", "version"), [({}, 2), ({"dlm_version": 1}, 1), ({"dlm_version": True}, 2), ({"dlm_version": "1"}, 2)])
def test_version_of(data: dict, version: int):
    assert version_of(data) == version


def test_pending_migrations():
    assert pending_migrations(1) == [MIGRATIONS[1]]
    assert pending_migrations(CURRENT_DLM_VERSION) == []
    assert MIGRATIONS[1].renames[0] == (("training", "adapter_type"), "adapter")


def test_v1_document_is_upgraded_in_memory_on_read(tmp_path: Path):
    path = tmp_path / "old.dlm"
    path.write_text(V1)
    doc = parse_document(path)
    assert doc.migrated_from == 1
    assert doc.config.dlm_version == 2
    assert doc.config.training.adapter == "qlora"
    assert (doc.config.export.default_quant, doc.config.export.default_temperature, doc.config.export.default_top_p) == ("Q8_0", 0.5, 0.8)
    assert doc.frontmatter.data["training"]["adapter_type"] == "qlora"  # the text is what it was
    assert doc.text == V1
    assert path.read_text() == V1  # reading never writes
    assert [s.type.value for s in doc.sections] == ["prose", "instruction"]


def test_v1_document_with_a_v2_key_is_an_error_at_that_key():
    text = V1.replace("  lora_r: 4\n", "  lora_r: 4\n  adapter: lora\n")
    with pytest.raises(DocumentError) as info:
        parse_bytes("doc.dlm", text.encode())
    assert str(info.value) == "doc.dlm:7:3: unknown field 'adapter_type' in training (did you mean 'adapter'?)"


def test_v2_document_with_a_v1_key_is_an_error():
    text = V1.replace("dlm_version: 1", "dlm_version: 2")
    with pytest.raises(DocumentError) as info:
        parse_bytes("doc.dlm", text.encode())
    assert str(info.value) == "doc.dlm:7:3: unknown field 'adapter_type' in training (did you mean 'adapter'?)"
