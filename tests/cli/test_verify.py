"""``dlm verify`` across machine classes, through the CLI, on a tiny trainable base.

One CPU plays two classes: the document's ``precision`` forces bf16 autocast, then float32.
That setting is not part of the recipe (its resolved value is the key's machine component), so
the two builds are the same recipe on two classes, as a laptop and a CI runner would be.

The tiny random base learns next to nothing (its top-two margins are about 0.005), so at the
default tolerance every choice it makes is undecided: these tests check the lock, the
commands, the messages and the refusals; tests/cli/test_verify_e2e.py checks behaviour on the
real base, where the answers are learnt.
"""

from __future__ import annotations

import json
import tomllib

import pytest

from dlmbuild.train.machine_class import current_class
from tests.rules.conftest import trainable_project

pytestmark = pytest.mark.timeout(300)

DOC = """---
dlm_id: 01JD5ZQ8V7W9X2Y3Z4A5B6C7D8
base_model: ./base
system_prompt: the system
training:
  precision: bf16
  sequence_len: 64
  seed: 3
---
::instruction::
### Q
what is the fact
### A
the fact is a value

::instruction::
### Q
who is the user
### A
the user is the note
"""

BF16, FP32 = current_class("bf16").name, current_class("fp32").name


def lock_of(root):
    return tomllib.loads((root / "dlm.lock").read_text())["documents"]["doc.dlm"]


def set_precision(root, precision: str) -> None:
    doc = root / "doc.dlm"
    text = doc.read_text()
    doc.write_text(text.replace("precision: bf16", f"precision: {precision}").replace("precision: fp32", f"precision: {precision}"))


@pytest.fixture
def bf16_built(tmp_path, monkeypatch, run_dlm):
    root = trainable_project(tmp_path, monkeypatch, DOC)
    built = run_dlm("build", "proj/doc.dlm")
    assert built.code == 0, built.err
    return root


def test_the_lock_records_the_class_its_goldens_came_from(bf16_built):
    lock = lock_of(bf16_built)
    assert set(lock["targets"]) == {":tokenize", ":data-default"}  # shared: the same bytes on every machine
    assert set(lock["classes"]) == {BF16}
    entry = lock["classes"][BF16]
    assert entry["precision"] == "bf16" and entry["device"] == "cpu"
    assert set(entry["targets"]) == {":train-default"} and entry["targets"][":train-default"]["basis"]
    probes = entry["probes"][":train-default"]
    assert len(probes) == 2 and all(len(p["argmax"]) == len(p["logprob"]) for p in probes.values())


def test_across_classes_bytes_differ_but_behaviour_verifies(bf16_built, run_dlm):
    root = bf16_built
    set_precision(root, "fp32")
    explained = run_dlm("build", "proj/doc.dlm", "--explain")
    assert explained.code == 0, explained.err
    assert "because precision changed: bf16 -> fp32" in explained.out
    lock = lock_of(root)
    assert set(lock["classes"]) == {BF16, FP32}  # the bf16 goldens stay: same recipe
    bf16, fp32 = (lock["classes"][c]["targets"][":train-default"] for c in (BF16, FP32))
    assert bf16["basis"] == fp32["basis"]
    assert bf16["output"] != fp32["output"]  # the byte comparison across classes fails
    assert bf16["files"]["adapter_model.safetensors"] != fp32["files"]["adapter_model.safetensors"]

    # drop this class's goldens: verify must now compare with the bf16 class
    text = (root / "dlm.lock").read_text()
    start = text.index(f'[documents."doc.dlm".classes."{FP32}"]')
    (root / "dlm.lock").write_text(text[:start].rstrip("\n") + "\n")
    across = run_dlm("verify", "proj/doc.dlm")
    assert across.code == 0, across.err
    assert across.out.startswith(f"verified across classes (precision fp32 vs bf16; {FP32} against the lock's {BF16}): "
                                 "max logit difference ")
    assert "(tolerance 1), greedy answers identical on " in across.out
    assert " of 1 adapter(s); 2 shared target(s) byte for byte" in across.out

    strict = run_dlm("verify", "proj/doc.dlm", "--strict")
    assert strict.code == 2 and strict.out == ""
    assert strict.err.startswith(f"dlm: --strict demands identical bytes, but dlm.lock holds goldens for {BF16} "
                                 f"and this machine is {FP32}: training in fp32 and in bf16 rounds differently.")
    assert len(strict.err.splitlines()) == 1

    recorded = run_dlm("verify", "proj/doc.dlm", "--record")
    assert recorded.code == 0, recorded.err
    assert f"recorded class {FP32} in dlm.lock: 1 machine-bound target(s), 2 probe(s); classes: {BF16}, {FP32}" in recorded.out
    assert set(lock_of(root)["classes"]) == {BF16, FP32}
    assert lock_of(root)["classes"][BF16] == lock["classes"][BF16]  # the other class untouched
    same = run_dlm("verify", "proj/doc.dlm", "--strict")
    assert same.code == 0 and f"byte for byte (class {FP32})" in same.out


def test_a_perturbed_golden_answer_fails_across_classes(bf16_built, run_dlm):
    """The bf16 class's golden probes replaced by those of a perturbed adapter (one LoRA weight
    changed enough to flip an answer): the float32 rebuild no longer matches them."""
    from safetensors.torch import load_file, save_file

    from dlmbuild.rules.train import read_rows
    from dlmbuild.train.probes import compare, goldens, probe_saved

    root = bf16_built
    adapter = sorted((root.parent / "home" / "store").glob("*/adapters/default/versions/v*"))[-1]
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    data = next((root.parent / "home" / "store").glob("*/actions/*/*/out/rows.jsonl")).parent
    rows = read_rows(data)
    honest = probe_saved(root / "base", adapter, rows)
    perturbed_dir = root.parent / "perturbed"
    perturbed_dir.mkdir()
    for name in ("adapter_config.json",):
        (perturbed_dir / name).write_bytes((adapter / name).read_bytes())
    name = sorted(n for n in weights if "lora_B" in n and "down_proj" in n)[-1]
    weights[name] = weights[name].clone()
    weights[name][0, 0] += 500.0  # one weight
    save_file(weights, str(perturbed_dir / "adapter_model.safetensors"))
    perturbed = probe_saved(root / "base", perturbed_dir, rows)
    assert not compare(goldens(honest), perturbed).passes(100.0)

    lines = []
    for line in (root / "dlm.lock").read_text().splitlines():
        pid, _, rest = line.partition(".")
        field = rest.split(" = ")[0]
        if pid.strip('"') in perturbed and field in ("argmax", "logprob", "margin"):
            line = f"{pid}.{field} = {json.dumps(goldens(perturbed)[pid.strip(chr(34))][field])}"
        lines.append(line)
    (root / "dlm.lock").write_text("\n".join(lines) + "\n")
    set_precision(root, "fp32")
    failed = run_dlm("verify", "proj/doc.dlm", "--tolerance", "0.001")  # the tiny base's choices, decided at this scale
    assert failed.code == 4
    assert ":train-default: greedy answers differ on " in failed.err and "first: " in failed.err
    assert "locked '" in failed.err and "rebuilt '" in failed.err


def test_bad_input(bf16_built, run_dlm):
    root = bf16_built
    for value in ("abc", "-1", "nan"):
        bad = run_dlm("verify", "proj/doc.dlm", "--tolerance", value)
        assert bad.code == 2 and len(bad.err.splitlines()) == 1 and "--tolerance" in bad.err, bad.err
    setting = root / "doc.dlm"
    setting.write_text(setting.read_text().replace("training:", "verify:\n  tolerance: lots\ntraining:"))
    refused = run_dlm("verify", "proj/doc.dlm")
    assert refused.code == 2 and "verify.tolerance" in refused.err and len(refused.err.splitlines()) == 1, refused.err


def test_a_lock_from_an_older_dlm_is_refused_then_migrated(bf16_built, run_dlm):
    root = bf16_built
    lock = lock_of(root)
    targets = {**lock["targets"], **lock["classes"][BF16]["targets"]}
    lines = ["lock_version = 1", "", '[documents."doc.dlm"]', f'dlm_id = "{lock["dlm_id"]}"']
    for name, t in targets.items():
        lines += ["", f'[documents."doc.dlm".targets."{name}"]', f'rule = "{t["rule"]}"', f'key = "{t["key"]}"',
                  f'output = "{t["output"]}"']
    (root / "dlm.lock").write_text("\n".join(lines) + "\n")
    refused = run_dlm("verify", "proj/doc.dlm")
    assert refused.code == 2
    assert refused.err == ("dlm: dlm.lock was written by an older dlm (lock version 1, without machine classes); "
                           "run `dlm verify --record proj/doc.dlm` to migrate it\n")
    migrated = run_dlm("verify", "proj/doc.dlm", "--record")
    assert migrated.code == 0, migrated.err
    assert f"recorded class {BF16} in dlm.lock (migrated from lock version 1)" in migrated.out
    assert tomllib.loads((root / "dlm.lock").read_text())["lock_version"] == 2
    assert run_dlm("verify", "proj/doc.dlm", "--strict").code == 0


def test_a_lock_whose_data_replays_earlier_builds_says_why_a_fresh_machine_differs(bf16_built, run_dlm):
    import shutil

    root = bf16_built
    doc = root / "doc.dlm"
    doc.write_text(doc.read_text().replace("the user is the note", "the user is the item"))
    assert run_dlm("build", "proj/doc.dlm").code == 0  # :data now replays the first version's rows
    replay = next((root.parent / "home" / "store").glob("*/replay"))
    assert any(replay.iterdir())
    shutil.rmtree(replay)  # a fresh CI machine has no history
    fresh = run_dlm("verify", "proj/doc.dlm")
    assert fresh.code == 4
    assert "MISMATCH  :data-default" in fresh.err
    assert "this machine has none for this document: a pack carries them" in fresh.err
