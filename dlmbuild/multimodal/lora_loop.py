"""The step loop every multimodal trainer shares: LoRA on the text model of a base whose
processor turns media into model inputs (vision-language, audio-language).

Only the text model's attention and MLP projections get LoRA layers (``TEXT_LORA_TARGETS``);
the media encoder and its connector stay frozen, so the adapter is an ordinary text-model LoRA
and the base's media side serves every adapter.

Each optimizer step draws ``batch_size`` examples in a seeded order and runs them one at a time,
summing token losses and dividing by the step's answer tokens (every answer token weighs the
same, however the examples are grouped). One example per forward needs no padding, so no pad
token, zero image tile or padded clip frame can enter a result. On CPU, with the thread count
fixed and deterministic algorithms on, the same model, examples and seed give a byte-identical
adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dlmbuild.multimodal.labels import IGNORE, answer_tokens

def train_encoded_lora(model, encoded: list, to_inputs: Callable[[object], dict], out_dir: Path, *, r: int, alpha: int,
                       steps: int, learning_rate: float, seed: int, batch_size: int, base_name: str) -> dict:
    """Train LoRA layers on ``model`` (loaded, frozen, seeded by the caller) over ``encoded``
    examples (each with ``labels``); ``to_inputs(example)`` gives one forward's keyword arguments,
    ``labels`` included. Saves a PEFT folder in ``out_dir`` named after ``base_name`` (never a
    local path). Returns ``steps``, ``losses`` (one per step), ``answer_tokens`` and
    ``trainable_parameters``."""
    import torch
    from peft import LoraConfig, get_peft_model

    from dlmbuild.multimodal.model import TEXT_LORA_TARGETS
    from dlmbuild.store.adapter_config import stabilize_adapter_folder

    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=TEXT_LORA_TARGETS, bias="none")
    model = get_peft_model(model, config)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    order: list[int] = []
    losses: list[float] = []
    for _ in range(steps):
        picks = []
        while len(picks) < min(batch_size, len(encoded)):
            if not order:
                order = torch.randperm(len(encoded), generator=generator).tolist()
            picks.append(order.pop(0))
        batch = [encoded[i] for i in picks]
        tokens = sum(answer_tokens(e.labels) for e in batch)
        optimizer.zero_grad(set_to_none=True)
        step_loss = 0.0
        for example in batch:
            inputs = to_inputs(example)
            labels = inputs.pop("labels")
            logits = model(**inputs).logits
            loss = torch.nn.functional.cross_entropy(logits[0, :-1].float(), labels[0, 1:], ignore_index=IGNORE,
                                                     reduction="sum") / max(tokens, 1)
            loss.backward()
            step_loss += loss.detach().item()
        optimizer.step()
        losses.append(step_loss)
    model.eval()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir), save_embedding_layers=False)
    stabilize_adapter_folder(out_dir, base_name)
    return {"steps": steps, "losses": losses, "answer_tokens": sum(answer_tokens(e.labels) for e in encoded),
            "trainable_parameters": sum(p.numel() for p in params)}
