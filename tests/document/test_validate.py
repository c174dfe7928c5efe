"""dlmbuild.document.validate: schema errors reported at the line and column of the key or value."""

from __future__ import annotations

import pytest

from dlmbuild.document.parse import parse_bytes
from dlmbuild.errors import DocumentError
from tests.helpers import DLM_ID, frontmatter


def error_of(extra: str = "", *, text: str | None = None) -> str:
    data = (text if text is not None else frontmatter(extra)).encode()
    with pytest.raises(DocumentError) as info:
        parse_bytes("doc.dlm", data)
    assert info.value.exit_code == 2
    return str(info.value)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("sytem_prompt: hi\n", "4:1: unknown field 'sytem_prompt' (did you mean 'system_prompt'?)"),
        ("colour: blue\n", "4:1: unknown field 'colour'"),
        ("training:\n  lora_rr: 8\n", "5:3: unknown field 'lora_rr' in training (did you mean 'lora_r'?)"),
        ("training:\n  preference:\n    betta: 0.2\n", "6:5: unknown field 'betta' in training.preference (did you mean 'beta'?)"),
        ("training:\n  adapters:\n    tone:\n      lora_rr: 3\n", "7:7: unknown field 'lora_rr' in training.adapters.tone (did you mean 'lora_r'?)"),
        ("training:\n  sources:\n    - path: a\n      exlude: ['*.md']\n", "7:7: unknown field 'exlude' in training.sources[0] (did you mean 'exclude'?)"),
        ("export:\n  quant: Q8_0\n", "5:3: unknown field 'quant' in export"),
        ("export:\n  default_qant: Q8_0\n", "5:3: unknown field 'default_qant' in export (did you mean 'default_quant'?)"),
    ],
)
def test_unknown_fields_with_did_you_mean(extra: str, expected: str):
    assert error_of(extra) == f"doc.dlm:{expected}"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("training:\n  lora_r: 0\n", "5:11: training.lora_r: input should be greater than or equal to 1"),
        ("training:\n  lora_r: 1024\n", "5:11: training.lora_r: input should be less than or equal to 512"),
        ("training:\n  lora_dropout: 1.5\n", "5:17: training.lora_dropout: input should be less than 1"),
        ("training:\n  learning_rate: fast\n", "5:18: training.learning_rate: input should be a valid number, unable to parse string as a number"),
        ("training:\n  adapter: lorra\n", "5:12: training.adapter: input should be 'lora', 'qlora' or 'dora'"),
        ("training:\n  target_modules: [q_proj, 'v proj']\n", "5:19: training.target_modules: 'v proj' is not a module name"),
        ("training:\n  gate:\n    enabled: maybe\n", "6:14: training.gate.enabled: input should be a valid boolean, unable to interpret input"),
        ("training:\n  sources:\n    - path: a\n      max_files: 0\n", "7:18: training.sources[0].max_files: input should be greater than or equal to 1"),
        ("export:\n  targets: [ollama, olama]\n", "5:21: export.targets[1]: input should be 'ollama', 'llama-server', 'vllm', 'mlx-serve' or 'hf'"),
        ("system_prompt: [a]\n", "4:16: system_prompt: input should be a valid string"),
        ("training: 3\n", "4:11: training: input should be a valid dictionary or instance of TrainingConfig"),
    ],
)
def test_values_out_of_range_point_at_the_value(extra: str, expected: str):
    assert error_of(extra) == f"doc.dlm:{expected}"


def test_bad_ulid_points_at_the_value():
    text = "---\n# header comment\ndlm_id: 01HZZZZZZZZZZZZZZZZZZZZZZ\nbase_model: smollm2-135m\n---\n"
    assert error_of(text=text) == "doc.dlm:3:9: dlm_id must be a 26-character Crockford base32 ULID (run 'dlm init' for a fresh one)"


def test_missing_required_fields_point_at_the_frontmatter():
    assert error_of(text="---\nbase_model: smollm2-135m\n---\n") == "doc.dlm:2:1: missing required field 'dlm_id'"
    assert error_of(text=f"---\ndlm_id: {DLM_ID}\n---\n") == "doc.dlm:2:1: missing required field 'base_model'"


def test_missing_nested_required_field():
    assert error_of("training:\n  sources:\n    - include: ['*.md']\n") == "doc.dlm:6:7: missing required field 'training.sources[0].path'"


def test_the_first_error_in_the_file_is_reported():
    extra = "training:\n  lora_r: 0\n  seed: -5\nexport:\n  default_top_p: 7\n"
    assert error_of(extra) == "doc.dlm:5:11: training.lora_r: input should be greater than or equal to 1"


def test_future_schema_version():
    assert error_of("dlm_version: 9\n") == "doc.dlm:4:14: document is schema version 9; this dlm reads versions up to 2 (upgrade dlm)"


@pytest.mark.parametrize(("value", "message"), [("0", "input should be greater than or equal to 1"), ("-3", "input should be greater than or equal to 1"), ("true", "input should be a valid integer"), ("2.0", "input should be a valid integer")])
def test_impossible_schema_versions_are_errors_not_migrations(value: str, message: str):
    assert error_of(f"dlm_version: {value}\n") == f"doc.dlm:4:14: dlm_version: {message}"


def test_undeclared_source_adapter():
    extra = "training:\n  adapters: [tone]\n  sources:\n    - {path: notes, adapter: tne}\n"
    assert error_of(extra) == "doc.dlm:5:3: training: source 'notes' routes to undeclared adapter 'tne' (did you mean 'tone'?)"


def test_bad_adapter_name():
    assert error_of("training:\n  adapters: [Tone]\n") == "doc.dlm:5:13: training.adapters: adapter name 'Tone' must match ^[a-z][a-z0-9_]{0,31}$"


@pytest.mark.parametrize("key", ["d[lm_id", "list[str]", "int", "function-after"])
def test_unknown_keys_that_look_like_pydantic_union_tags(key: str):
    """A user key containing '[' (a typo) used to be dropped from the error path as if it were a
    pydantic union tag, and the error reporter crashed with IndexError."""
    assert error_of(f"{key}: x\n").startswith(f"doc.dlm:4:1: unknown field '{key}'")


def test_non_string_keys_are_errors_not_crashes():
    assert error_of("1: x\n").endswith("keys should be strings")
    assert error_of("null: x\n").endswith("keys should be strings")


def test_recursive_aliases_in_validated_fields_are_errors_not_crashes():
    assert error_of("system_prompt: &s [*s]\n") == "doc.dlm:4:16: system_prompt: input should be a valid string"
    assert error_of("a: &a [*a]\n") == "doc.dlm:4:1: unknown field 'a'"


def test_messages_quoting_user_text_stay_on_one_line():
    """A quoted YAML key or value may hold an escaped line break; the message must not."""
    assert error_of('"a\\nb": 1\n') == "doc.dlm:4:1: unknown field 'a\\nb'"
    assert error_of('"x\\ny": 1\n"x\\ny": 2\n') == "doc.dlm:5:1: duplicate key 'x\\ny' (first set on line 4)"
    assert error_of('training:\n  target_modules: ["a\\r\\nb"]\n') == "doc.dlm:5:19: training.target_modules: 'a\\r\\nb' is not a module name"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("training:\n  adapters: [knowledge]\n  gate:\n    enabled: true\n",
         "7:14: training.gate needs two or more adapters to route between; this document declares one ('knowledge')"),
        ("training:\n  gate:\n    enabled: true\n",
         "6:14: training.gate needs two or more adapters to route between; this document declares one ('default')"),
        ("training:\n  gate: {enabled: true}\n", "5:19: training.gate needs two or more adapters to route between; this document declares one ('default')"),
    ],
)
def test_a_gate_on_a_one_adapter_document_points_at_enabled(extra: str, expected: str):
    """A gate with one adapter has nothing to choose between: refused where it is switched on."""
    assert error_of(extra) == f"doc.dlm:{expected}"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("training:\n  adapters: [knowledge, tone]\n  gate:\n    enabled: true\n    fallback: tnoe\n",
         "8:15: training.gate.fallback: unknown adapter 'tnoe' (did you mean 'tone'?); declared: knowledge, tone"),
        ("training:\n  adapters: [knowledge, tone]\n  gate: {enabled: true, fallback: xyz}\n",
         "6:35: training.gate.fallback: unknown adapter 'xyz'; declared: knowledge, tone"),
    ],
)
def test_an_unknown_gate_fallback_points_at_the_value(extra: str, expected: str):
    assert error_of(extra) == f"doc.dlm:{expected}"


def test_a_gate_on_two_adapters_with_a_declared_fallback_parses():
    from dlmbuild.document.parse import parse_bytes

    extra = "training:\n  adapters: [knowledge, tone]\n  gate:\n    enabled: true\n    fallback: tone\n    top_k: 2\n"
    gate = parse_bytes("doc.dlm", frontmatter(extra).encode()).config.training.gate
    assert (gate.enabled, gate.fallback, gate.top_k) == (True, "tone", 2)
    off = parse_bytes("doc.dlm", frontmatter("training:\n  gate:\n    enabled: false\n").encode()).config.training.gate
    assert off.enabled is False  # a gate switched off on one adapter is not an error
