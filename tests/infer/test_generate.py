"""generate(): the cached decoding loop on a tiny random-init Llama, bare and under a LoRA.

The loop must raise no warning (transformers 5 warns a FutureWarning on every call that passes
``past_key_values``; ``dlm prompt`` printed it between the question and the answer), and the
cache must change nothing: greedy answers equal those recomputed from the whole sequence with
no cache at all.
"""

from __future__ import annotations

import warnings

import pytest

from dlmbuild.infer.generate import Sampling, generate
from dlmbuild.infer.kv_cache import cache_argument

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

VOCAB = 48
EOS = 2


class Tokenizer:
    """Just what generate() reads: an eos id and decode (one letter per token id)."""

    eos_token_id = EOS

    def decode(self, ids: list[int]) -> str:
        return "".join(chr(ord("A") + i % 26) for i in ids)


def tiny_llama(seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=1, max_position_embeddings=128, bos_token_id=1, eos_token_id=EOS, pad_token_id=EOS)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval()


def with_lora(model):
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    return peft_model.eval()


def greedy_without_cache(model, prompt: list[int], steps: int) -> list[int]:
    """The reference: every step recomputes the whole sequence, no cache involved."""
    ids = list(prompt)
    out: list[int] = []
    with torch.inference_mode():
        for _ in range(steps):
            logits = model(input_ids=torch.tensor([ids]), use_cache=False).logits
            token = int(torch.argmax(logits[0, -1]))
            if token == EOS:
                break
            out.append(token)
            ids.append(token)
    return out


def run_recording_warnings(model, prompt: list[int], settings: Sampling) -> tuple[str, list[str], list[warnings.WarningMessage]]:
    pieces: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        text = generate(model, Tokenizer(), prompt, settings, pieces.append)
    return text, pieces, caught


@pytest.mark.parametrize("wrap", [False, True], ids=["bare", "lora"])
def test_greedy_generation_warns_nothing_and_matches_the_uncached_answer(wrap: bool):
    model = with_lora(tiny_llama()) if wrap else tiny_llama()
    prompt = [5, 9, 14, 3]
    text, pieces, caught = run_recording_warnings(model, prompt, Sampling(max_new_tokens=12, temperature=0))
    assert [str(w.message) for w in caught] == []
    expected = Tokenizer().decode(greedy_without_cache(model, prompt, 12))
    assert expected  # not a vacuous comparison: the model says something before eos
    assert text == expected
    assert "".join(pieces) == text  # every decoded piece was streamed, once


def test_seeded_sampling_repeats_and_warns_nothing():
    model = tiny_llama(seed=1)
    settings = Sampling(max_new_tokens=10, temperature=1.0, top_p=0.9, seed=7)
    first, _, caught = run_recording_warnings(model, [4, 6], settings)
    second, _, _ = run_recording_warnings(model, [4, 6], settings)
    assert caught == []
    assert first == second and len(first) >= 1


def test_the_cache_argument_follows_the_wrapped_models_signature():
    import inspect

    model = tiny_llama()
    expected = "cache" if "cache" in inspect.signature(type(model).forward).parameters else "past_key_values"
    assert cache_argument(model) == expected
    assert cache_argument(with_lora(tiny_llama())) == expected
