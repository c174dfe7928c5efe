"""dlmbuild.infer.mixing: several peft LoRA adapters active at once, each scaled by its weight.

What the gate (or ``--adapter-mix``) asks for must be the exact weighted sum of the adapters'
deltas, ``W + Σ wᵢ·sᵢ·BᵢAᵢ``, the same model ``export.mix`` merges; and going back to one
adapter must give that adapter's own output, bit for bit, with no trace of the mix."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from dlmbuild.errors import UsageError
from dlmbuild.infer.mixing import activate, check_weights

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")

VOCAB = 64
ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]


def tiny_base():
    config = transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(config).eval()


def randomise(model, name: str, seed: int) -> None:
    """Non-zero A and B for adapter ``name`` (peft starts B at zero, which would hide any bug)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param_name, param in model.named_parameters():
            if f"lora_A.{name}." in param_name or f"lora_B.{name}." in param_name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)


INPUT = torch.tensor([[1, 5, 9, 13, 17, 21, 3, 7]])
SINGLE: dict[str, torch.Tensor] = {}


def logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=INPUT).logits


@pytest.fixture(scope="module")
def models():
    """A peft model with adapters 'facts' (r 4, alpha 8, attention) and 'tone' (r 2, alpha 6,
    rsLoRA, v_proj and MLP: other modules, another scaling rule), and an untouched copy of the base."""
    from peft import LoraConfig, get_peft_model

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    base = tiny_base()
    plain = copy.deepcopy(base)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=ATTENTION), adapter_name="facts")
    model.add_adapter("tone", LoraConfig(r=2, lora_alpha=6, use_rslora=True, target_modules=["v_proj", "gate_proj", "down_proj"]))
    randomise(model, "facts", 1)
    randomise(model, "tone", 2)
    model.eval()
    for name in ("facts", "tone"):  # peft's own single-adapter outputs, before activate() ever ran
        model.set_adapter(name)
        SINGLE[name] = logits(model)
    yield model, plain
    torch.set_num_threads(before)


def merged_by_hand(model, plain, weights: dict[str, float]):
    """The base with ``Σ w·s·B@A`` added to each targeted weight, computed from the adapters'
    tensors and their configs (not from peft's runtime scaling, which activate sets)."""
    merged = copy.deepcopy(plain)
    targets = dict(merged.named_modules())
    for name, module in model.named_modules():
        if not hasattr(module, "lora_A"):
            continue
        inner = name.split("base_model.model.", 1)[1]
        for adapter, weight in weights.items():
            if adapter not in module.lora_A:
                continue
            config = model.peft_config[adapter]
            scaling = config.lora_alpha / (config.r ** 0.5 if config.use_rslora else config.r)
            delta = module.lora_B[adapter].weight @ module.lora_A[adapter].weight
            with torch.no_grad():
                targets[inner].weight += weight * scaling * delta
    return merged.eval()


def test_a_mix_is_the_weighted_sum_of_the_deltas(models):
    """The brief's example, {a: 0.7, b: 0.3}, against the merged delta computed by hand."""
    model, plain = models
    activate(model, {"facts": 0.7, "tone": 0.3})
    got = logits(model)
    expected = logits(merged_by_hand(model, plain, {"facts": 0.7, "tone": 0.3}))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    # and the mix is neither adapter alone, nor the base: the deltas are real
    assert not torch.allclose(got, logits(merged_by_hand(model, plain, {"facts": 1.0}))), "mix equals a alone"
    assert not torch.allclose(got, logits(plain), atol=1e-3)


def test_a_mix_matches_peft_cat_merge(models):
    """The same sum ``export.mix`` merges with peft's ``cat`` combination."""
    model, _ = models
    for name in ("facts", "tone"):  # peft's merge reads each layer's live scaling: put the trained ones back
        activate(model, {name: 1.0})
    model.add_weighted_adapter(["facts", "tone"], [0.25, 1.5], "cat_mix", combination_type="cat")
    try:
        model.set_adapter("cat_mix")
        merged = logits(model)
    finally:
        model.set_adapter("facts")
        model.delete_adapter("cat_mix")
    activate(model, {"facts": 0.25, "tone": 1.5})
    torch.testing.assert_close(logits(model), merged, atol=1e-5, rtol=1e-5)


def test_one_adapter_at_weight_one_is_plain_set_adapter(models):
    """Even after a mix has changed both adapters' scales."""
    model, _ = models
    activate(model, {"facts": 0.7, "tone": 0.3})
    activate(model, {"facts": 1.0})
    assert torch.equal(logits(model), SINGLE["facts"])
    assert model.base_model.active_adapters == ["facts"]


def test_switching_back_from_a_mix_restores_each_adapter_exactly(models):
    model, plain = models
    activate(model, {"facts": 0.5, "tone": 0.5})
    activate(model, {"tone": 1.0})
    assert torch.equal(logits(model), SINGLE["tone"])  # 'a' is off again, 'b' at its trained scale
    activate(model, {"facts": 0.2, "tone": 0.9})
    activate(model, {"facts": 1.0})
    assert torch.equal(logits(model), SINGLE["facts"])
    torch.testing.assert_close(SINGLE["tone"], logits(merged_by_hand(model, plain, {"tone": 1.0})), atol=1e-5, rtol=1e-5)


def test_one_adapter_at_a_weight_scales_its_delta(models):
    model, plain = models
    activate(model, {"tone": 0.4})
    torch.testing.assert_close(logits(model), logits(merged_by_hand(model, plain, {"tone": 0.4})), atol=1e-5, rtol=1e-5)


# -- check_weights --------------------------------------------------------------------------------

@dataclass
class Version:
    path: Path


def adapter_folder(root: Path, name: str, *, dora: bool) -> Version:
    folder = root / name
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4, "use_dora": dora}))
    return Version(folder)


def test_a_dora_adapter_cannot_be_mixed_or_weighted(tmp_path):
    """A DoRA magnitude rescales the whole weight: it does not add, so no exact mix exists."""
    versions = {"facts": adapter_folder(tmp_path, "facts", dora=False), "d": adapter_folder(tmp_path, "d", dora=True)}
    with pytest.raises(UsageError, match=r"cannot weight or mix DoRA adapter 'd'.*use it alone \(--adapter d\)") as info:
        check_weights({"facts": 0.7, "d": 0.3}, versions)
    assert info.value.exit_code == 2 and "\n" not in str(info.value)
    with pytest.raises(UsageError, match="DoRA adapter 'd'"):
        check_weights({"d": 0.5}, {"d": versions["d"]})


def test_a_dora_adapter_alone_at_one_and_lora_mixes_pass(tmp_path):
    versions = {"facts": adapter_folder(tmp_path, "facts", dora=False), "tone": adapter_folder(tmp_path, "tone", dora=False),
                "d": adapter_folder(tmp_path, "d", dora=True)}
    check_weights({"d": 1.0}, {"d": versions["d"]})
    check_weights({"facts": 0.7, "tone": 0.3}, {"facts": versions["facts"], "tone": versions["tone"]})


def test_nothing_selected_is_refused(tmp_path):
    with pytest.raises(UsageError, match="no adapter selected"):
        check_weights({}, {})
