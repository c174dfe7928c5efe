"""``dlm migrate``: upgrade the frontmatter on disk, renaming key tokens and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlmbuild.document.parse import parse_document
from tests.helpers import DLM_ID

V1 = f"""---
# A document from the draft schema.
dlm_id: {DLM_ID}
dlm_version: 1   # old
base_model: smollm2-135m
training:
  adapter_type: qlora   # small GPU
  lora_r: 4
export:
  quant: Q8_0
  temperature: 0.5
---
Body text.   \t

::instruction::
### Q
q
### A
a
"""

V2 = (
    V1.replace("dlm_version: 1   # old", "dlm_version: 2   # old")
    .replace("  adapter_type: qlora   # small GPU", "  adapter: qlora   # small GPU")
    .replace("  quant: Q8_0", "  default_quant: Q8_0")
    .replace("  temperature: 0.5", "  default_temperature: 0.5")
)

DIFF = """@@ -1,14 +1,14 @@
 ---
 # A document from the draft schema.
 dlm_id: 01HZZZZZZZZZZZZZZZZZZZZZZZ
-dlm_version: 1   # old
+dlm_version: 2   # old
 base_model: smollm2-135m
 training:
-  adapter_type: qlora   # small GPU
+  adapter: qlora   # small GPU
   lora_r: 4
 export:
-  quant: Q8_0
-  temperature: 0.5
+  default_quant: Q8_0
+  default_temperature: 0.5
 ---
 Body text.   \t
 
"""


@pytest.fixture
def v1(tmp_path: Path) -> Path:
    path = tmp_path / "old.dlm"
    path.write_text(V1)
    return path


def test_dry_run_prints_the_diff_and_writes_nothing(v1: Path, run_dlm):
    r = run_dlm("migrate", "--dry-run", v1)
    assert (r.code, r.err) == (0, "")
    assert r.out == f"--- {v1}\n+++ {v1} (migrated)\n" + DIFF
    assert v1.read_text() == V1
    assert sorted(p.name for p in v1.parent.iterdir()) == ["old.dlm"]


def test_migrate_writes_a_backup_and_renames_only_those_keys(v1: Path, run_dlm):
    ids_before = [s.id for s in parse_document(v1).sections]
    r = run_dlm("migrate", v1)
    assert (r.code, r.err) == (0, "")
    assert r.out == f"{v1}: migrated schema v1 -> v2 (backup: old.dlm.v1.bak)\n"
    assert v1.read_text() == V2  # comments, spacing and every body byte kept
    assert (v1.parent / "old.dlm.v1.bak").read_text() == V1
    doc = parse_document(v1)
    assert doc.migrated_from is None
    assert (doc.config.dlm_version, doc.config.training.adapter, doc.config.export.default_quant) == (2, "qlora", "Q8_0")
    assert [s.id for s in doc.sections] == ids_before


def test_migrating_a_current_document_does_nothing(v1: Path, run_dlm):
    run_dlm("migrate", v1)
    r = run_dlm("migrate", v1)
    assert (r.code, r.out) == (0, f"{v1}: already at schema version 2; nothing to do\n")
    assert v1.read_text() == V2


def test_no_backup(v1: Path, run_dlm):
    r = run_dlm("migrate", "--no-backup", v1)
    assert (r.code, r.out) == (0, f"{v1}: migrated schema v1 -> v2\n")
    assert sorted(p.name for p in v1.parent.iterdir()) == ["old.dlm"]
    assert v1.read_text() == V2


def test_existing_backup_is_never_overwritten(v1: Path, run_dlm):
    bak = v1.parent / "old.dlm.v1.bak"
    bak.write_text("an older backup")
    r = run_dlm("migrate", v1)
    assert r.code == 2
    assert r.err == f"{v1}: backup old.dlm.v1.bak already exists; move it away or pass --no-backup\n"
    assert v1.read_text() == V1 and bak.read_text() == "an older backup"


def test_migrate_keeps_crlf_and_bom(tmp_path: Path, run_dlm):
    path = tmp_path / "old.dlm"
    original = b"\xef\xbb\xbf" + V1.replace("\n", "\r\n").encode()
    path.write_bytes(original)
    assert run_dlm("migrate", path).code == 0
    assert path.read_bytes() == b"\xef\xbb\xbf" + V2.replace("\n", "\r\n").encode()
    assert (tmp_path / "old.dlm.v1.bak").read_bytes() == original


def test_migrate_a_v1_document_with_only_some_old_keys(tmp_path: Path, run_dlm):
    path = tmp_path / "old.dlm"
    text = f"---\ndlm_id: {DLM_ID}\ndlm_version: 1\nbase_model: smollm2-135m\nexport: {{quant: F16}}\n---\n"
    path.write_text(text)
    assert run_dlm("migrate", "--no-backup", path).code == 0
    assert path.read_text() == text.replace("dlm_version: 1", "dlm_version: 2").replace("{quant: F16}", "{default_quant: F16}")


def test_migrate_bad_document(tmp_path: Path, run_dlm):
    path = tmp_path / "bad.dlm"
    path.write_text(V1.replace("  lora_r: 4", "  lora_r: 0"))
    before = path.read_bytes()
    r = run_dlm("migrate", path)
    assert r.code == 2
    assert r.err == f"{path}:8:11: training.lora_r: input should be greater than or equal to 1\n"
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.dlm"]
