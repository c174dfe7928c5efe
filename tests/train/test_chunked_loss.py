"""Chunked losses equal the whole-logits computation: the cross entropy and the anchor's KL, their
values and the gradients they send to the adapter, with chunks smaller than the batch."""

from __future__ import annotations

import pytest

from dlmbuild.train import chunked_loss
from dlmbuild.train.packing import collate
from tests.train.test_recipe import PAD, base, base_dir, make_blocks  # noqa: F401  (fixtures)

torch = pytest.importorskip("torch")


@pytest.fixture
def adapted(base):  # noqa: F811
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(3)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    yield model
    model.unload()


def gradients(model, loss):
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def whole(model, batch):
    logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
    return torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), batch["labels"][:, 1:].flatten(),
                                             ignore_index=-100, reduction="sum")


def test_chunked_cross_entropy_equals_the_whole(adapted, monkeypatch):
    monkeypatch.setattr(chunked_loss, "CHUNK", 5)
    batch = collate(make_blocks(n_rows=6, seed=2), PAD)
    assert chunked_loss._parts(adapted) is not None  # the chunked path, not the fallback
    expected = whole(adapted, batch)
    expected_grads = gradients(adapted, expected)
    got = chunked_loss.token_loss_sum(adapted, batch)
    got_grads = gradients(adapted, got)
    assert torch.allclose(got, expected, rtol=1e-5)
    for name, grad in expected_grads.items():
        assert torch.allclose(got_grads[name], grad, rtol=1e-4, atol=1e-6), name


def test_chunked_kl_equals_the_whole(adapted, monkeypatch):
    monkeypatch.setattr(chunked_loss, "CHUNK", 7)
    batch = collate(make_blocks(n_rows=4, seed=5)[:1], PAD)
    with torch.no_grad(), adapted.disable_adapter():
        reference = adapted(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits
    adapted_logits = adapted(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits
    log_p, log_q = torch.log_softmax(reference.float(), -1), torch.log_softmax(adapted_logits.float(), -1)
    expected = (log_p.exp() * (log_p - log_q)).sum(-1).mean()
    expected_grads = gradients(adapted, expected)
    got = chunked_loss.kl_to_reference_mean(adapted, batch)
    got_grads = gradients(adapted, got)
    assert float(expected.detach()) > 0 and torch.allclose(got, expected, rtol=1e-4)
    for name, grad in expected_grads.items():
        assert torch.allclose(got_grads[name], grad, rtol=1e-3, atol=1e-7), name
