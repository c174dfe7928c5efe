"""Next-token losses computed a chunk of positions at a time, so a step's full
``[tokens, vocab]`` logits never exist at once.

With a 49,152-token vocabulary, one 4 x 512 micro-batch has 100 M logits: 200 MB in bf16,
400 MB again in float32 for the loss, as much for the log-softmax and for their gradient. Those
copies, not the 135M-parameter model, made most of training's 4.25 GB peak. Here the model's
decoder runs once to its last hidden state; the output head, the float32 cast and the
cross entropy (or the anchor's KL) then run ``CHUNK`` positions at a time under activation
checkpointing, which keeps only the hidden states and recomputes each chunk's logits in the
backward pass. Only labelled positions go through the head at all.

The sums are the same quantities as the whole-tensor computation (summation order differs, so
the bytes of an adapter trained this way differ from one trained before: the ``:train`` rule's
version says so). Models whose causal-LM head does more than a projection (logit soft-capping,
logit scaling) or whose head is itself adapted fall back to whole logits.
"""

from __future__ import annotations

from dlmbuild.train.packing import IGNORE

CHUNK = 1024


def _parts(model):
    """(decoder, head) of a plain or peft-wrapped causal LM, or None where chunking is unsafe."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    get_decoder = getattr(base, "get_decoder", None)
    head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
    config = getattr(base, "config", None)
    if get_decoder is None or head is None or hasattr(head, "lora_A") or type(head).__name__ != "Linear":
        return None
    if getattr(config, "final_logit_softcapping", None) or getattr(config, "logit_scale", None):
        return None
    return get_decoder(), head


def _hidden(decoder, batch):
    return decoder(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).last_hidden_state


def _chunk_cross_entropy(head, hidden, targets):
    import torch

    return torch.nn.functional.cross_entropy(head(hidden).float(), targets, reduction="sum")


def _chunk_kl(head, hidden, reference_log_p):
    import torch

    log_q = torch.log_softmax(head(hidden).float(), dim=-1)
    return (reference_log_p.exp() * (reference_log_p - log_q)).sum()


def token_loss_sum(model, batch):
    """Summed next-token cross entropy over the labelled positions of ``batch``, in float32."""
    import torch
    from torch.utils.checkpoint import checkpoint

    parts = _parts(model)
    if parts is None:
        logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
        shifted = logits[:, :-1, :].flatten(0, 1).float()
        return torch.nn.functional.cross_entropy(shifted, batch["labels"][:, 1:].flatten(), ignore_index=IGNORE, reduction="sum")
    decoder, head = parts
    hidden = _hidden(decoder, batch)[:, :-1].flatten(0, 1)
    targets = batch["labels"][:, 1:].flatten()
    keep = targets != IGNORE
    hidden, targets = hidden[keep], targets[keep]
    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, len(targets), CHUNK):
        total = total + checkpoint(_chunk_cross_entropy, head, hidden[start:start + CHUNK], targets[start:start + CHUNK],
                                   use_reentrant=False)
    return total


def reference_hidden(model, batch):
    """The base's last hidden state on ``batch`` (adapter disabled, no gradient), or None where
    the head cannot be chunked. The base never changes while an adapter trains, so the anchor
    computes this once per anchor block instead of once per step."""
    import torch

    parts = _parts(model)
    if parts is None:
        return None
    with torch.no_grad(), model.disable_adapter():
        return _hidden(parts[0], batch).flatten(0, 1)


def kl_to_reference_mean(model, batch, reference=None):
    """Mean over positions of KL(base || adapted) on ``batch``: the base is the model with its
    adapter disabled, computed without gradients (or given: ``reference_hidden`` of the batch)."""
    import torch
    from torch.utils.checkpoint import checkpoint

    parts = _parts(model)
    if parts is None:
        with torch.no_grad(), model.disable_adapter():
            reference = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
        adapted = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
        log_p = torch.log_softmax(reference.float(), dim=-1)
        log_q = torch.log_softmax(adapted.float(), dim=-1)
        return (log_p.exp() * (log_p - log_q)).sum(-1).mean()
    decoder, head = parts
    if reference is None:
        reference = reference_hidden(model, batch)
    hidden = _hidden(decoder, batch).flatten(0, 1)
    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, len(hidden), CHUNK):
        with torch.no_grad():
            log_p = torch.log_softmax(head(reference[start:start + CHUNK]).float(), dim=-1)
        total = total + checkpoint(_chunk_kl, head, hidden[start:start + CHUNK], log_p, use_reentrant=False)
    return total / len(hidden)
