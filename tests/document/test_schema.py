"""dlmbuild.document.schema: the frontmatter model, its defaults, ranges and shorthands."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dlmbuild.document.schema import CURRENT_DLM_VERSION, DEFAULT_ADAPTER, DlmConfig, TrainingConfig
from tests.helpers import BASE, DLM_ID


def config(**fields) -> DlmConfig:
    return DlmConfig.model_validate({"dlm_id": DLM_ID, "base_model": BASE, **fields})


def test_minimal_document_gets_the_documented_defaults():
    c = config()
    assert c.dlm_version == CURRENT_DLM_VERSION == 2
    assert c.system_prompt is None
    t = c.training
    assert (t.adapter, t.lora_r, t.lora_alpha, t.lora_dropout) == ("lora", 8, 16, 0.0)
    assert (t.target_modules, t.learning_rate, t.num_epochs) == ("auto", "auto", "auto")
    assert (t.sequence_len, t.micro_batch_size, t.grad_accum, t.seed) == (512, 1, 4, 42)
    assert t.sources == [] and t.sources_policy == "strict"
    assert t.adapters is None and t.adapter_names == [DEFAULT_ADAPTER] == ["default"]
    assert (t.replay.enabled, t.replay.fraction) == (True, 0.25)
    assert (c.export.default_quant, c.export.default_temperature, c.export.default_top_p) == ("Q4_K_M", 0.7, 0.9)


def test_config_is_frozen():
    with pytest.raises(ValidationError):
        config().training.lora_r = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "ulid",
    ["01HZZZZZZZZZZZZZZZZZZZZZZ", "01HZZZZZZZZZZZZZZZZZZZZZZZZ", "81HZZZZZZZZZZZZZZZZZZZZZZZ", "01HZZZZZZZZZZZZZZZZZZZZZZI", "01hzzzzzzzzzzzzzzzzzzzzzzz"],
)
def test_bad_ulids_are_refused(ulid: str):
    with pytest.raises(ValidationError):
        DlmConfig.model_validate({"dlm_id": ulid, "base_model": BASE})


@pytest.mark.parametrize("base", ["smollm2-135m", "qwen2.5-0.5b", "hf:org/model", "hf:Org.x/model-1.5@v2", "./models/mine", "/abs/model", "~/m", ".."])
def test_known_base_models(base: str):
    assert config(base_model=base).base_model == base


@pytest.mark.parametrize(("base", "fragment"), [("hf:org", "is not of the form hf:org/name"), ("smollm-135m", "did you mean 'smollm2-135m'?"), ("gpt5", "unknown base model 'gpt5'; use")])
def test_unknown_base_models(base: str, fragment: str):
    with pytest.raises(ValidationError) as info:
        config(base_model=base)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("training", "ok"),
    [
        ({"lora_r": 1}, True), ({"lora_r": 512}, True), ({"lora_r": 0}, False), ({"lora_r": 513}, False),
        ({"lora_dropout": 0.0}, True), ({"lora_dropout": 1.0}, False),
        ({"learning_rate": "auto"}, True), ({"learning_rate": 0.5}, True), ({"learning_rate": 0}, False), ({"learning_rate": "fast"}, False),
        ({"num_epochs": 3}, True), ({"num_epochs": 0}, False),
        ({"sequence_len": 31}, False), ({"warmup_ratio": 0.6}, False), ({"seed": -1}, False),
        ({"target_modules": ["q_proj", "v_proj"]}, True), ({"target_modules": []}, False), ({"target_modules": ["a b"]}, False),
        ({"optimizer": "adam"}, False), ({"sources_policy": "lax"}, False),
    ],
)
def test_training_ranges(training: dict, ok: bool):
    if ok:
        config(training=training)
    else:
        with pytest.raises(ValidationError):
            config(training=training)


@pytest.mark.parametrize("version", [0, -1, 3, True, 2.0, "2"])
def test_dlm_version_must_be_a_known_integer(version):
    """``true`` is not version 1 and ``2.0`` is not version 2: the version is a plain integer."""
    with pytest.raises(ValidationError):
        config(dlm_version=version)


def test_sources_shorthand_strings_become_directives():
    t = config(training={"sources": ["notes/", {"path": "src", "exclude": ["*.log"]}]}).training
    assert [s.path for s in t.sources] == ["notes/", "src"]
    assert t.sources[0].include == ["**/*"] and t.sources[0].exclude == []
    assert t.sources[1].exclude == ["*.log"]
    assert (t.sources[0].max_bytes_per_file, t.sources[0].max_files) == (256 * 1024, 50_000)


def test_adapters_list_shorthand_keeps_declaration_order():
    t = config(training={"adapters": ["tone", "knowledge"]}).training
    assert t.adapter_names == ["tone", "knowledge"]
    assert t.adapters["tone"].lora_r is None  # inherits from training


def test_adapters_mapping_with_empty_and_null_entries():
    t = TrainingConfig.model_validate({"adapters": {"knowledge": None, "tone": {"lora_r": 4}, "extra": {}}})
    assert t.adapter_names == ["knowledge", "tone", "extra"]
    assert t.adapters["tone"].lora_r == 4


@pytest.mark.parametrize("adapters", [[], {}, ["Tone"], ["9lives"], ["a" * 33], {"ok": {"lora_rr": 1}}])
def test_bad_adapter_declarations(adapters):
    with pytest.raises(ValidationError):
        config(training={"adapters": adapters})


def test_source_routed_to_an_undeclared_adapter():
    with pytest.raises(ValidationError) as info:
        config(training={"adapters": ["tone"], "sources": [{"path": "x", "adapter": "tne"}]})
    assert "source 'x' routes to undeclared adapter 'tne' (did you mean 'tone'?)" in str(info.value)


def test_source_routed_to_a_declared_adapter():
    t = config(training={"adapters": ["tone"], "sources": [{"path": "x", "adapter": "tone"}]}).training
    assert t.sources[0].adapter == "tone"


@pytest.mark.parametrize(("export", "ok"), [({"targets": ["ollama", "vllm"]}, True), ({"targets": ["olama"]}, False), ({"default_quant": "Q3"}, False), ({"default_top_p": 0}, False)])
def test_export_settings(export: dict, ok: bool):
    if ok:
        assert config(export=export).export.targets == export["targets"]
    else:
        with pytest.raises(ValidationError):
            config(export=export)


@pytest.mark.parametrize("section", [{"training": {"lora_rr": 1}}, {"export": {"quant": "Q8_0"}}, {"extra": 1}, {"training": {"gate": {"size": 1}}}])
def test_unknown_keys_are_refused_at_every_level(section: dict):
    with pytest.raises(ValidationError):
        config(**section)
