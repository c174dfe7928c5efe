"""LoRA training on a vision-language base: the text model learns, the vision side stays as it is.

Only the text model's attention and MLP projections get LoRA layers (``TEXT_LORA_TARGETS``);
the vision tower and the connector stay frozen, so the adapter is an ordinary text-model LoRA
that llama.cpp can merge, and the projector GGUF of the base serves every adapter.

Each optimizer step draws ``batch_size`` examples in a seeded order and runs them one at a time,
summing token losses and dividing by the step's answer tokens (every answer token weighs the
same, however the examples are grouped). One example per forward needs no padding, so no pad
token or zero image tile can enter a result. On CPU, with the thread count fixed and
deterministic algorithms on, the same model, examples and seed give a byte-identical adapter.
"""

from __future__ import annotations

import time
from pathlib import Path

from dlmbuild.vision.collate import IGNORE, VisionCollator, collate
from dlmbuild.vision.images import DEFAULT_MAX_PIXELS
from dlmbuild.vision.model import TEXT_LORA_TARGETS, cpu_threads, load_model, load_processor


def train_vision_lora(model_dir: Path, examples: list[dict], out_dir: Path, *, r: int = 8, alpha: int = 16,
                      steps: int = 30, learning_rate: float = 1e-3, seed: int = 0, threads: int = 1,
                      batch_size: int = 2, max_pixels: int = DEFAULT_MAX_PIXELS, base_key: str | None = None) -> dict:
    """Train a LoRA adapter on ``examples`` and save it as a PEFT folder in ``out_dir``.

    Returns ``steps``, ``losses`` (one per step), ``answer_tokens``, ``trainable_parameters``
    and ``seconds``. ``base_key`` names the base in ``adapter_config.json`` (default: the
    folder's name), never its local path.
    """
    import torch
    from peft import LoraConfig, get_peft_model

    from dlmbuild.store.adapter_config import stabilize_adapter_folder
    from dlmbuild.train.recipe import seed_everything

    if not examples:
        raise ValueError("no examples to train on")
    started = time.perf_counter()
    with cpu_threads(threads, deterministic=True):
        seed_everything(seed)
        processor = load_processor(model_dir)
        collator = VisionCollator(processor, max_pixels=max_pixels)
        encoded = [collator.encode(e) for e in examples]  # a bad image fails here, before any training
        model = load_model(model_dir)
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
            tokens = sum(_answer_tokens(e.labels) for e in batch)
            optimizer.zero_grad(set_to_none=True)
            step_loss = 0.0
            for example in batch:
                inputs = collate([example], collator.pad_id)
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
        stabilize_adapter_folder(out_dir, base_key or Path(model_dir).name)
    return {"steps": steps, "losses": losses, "answer_tokens": sum(_answer_tokens(e.labels) for e in encoded),
            "trainable_parameters": sum(p.numel() for p in params), "seconds": time.perf_counter() - started}


def _answer_tokens(labels: list[int]) -> int:
    """Tokens the loss counts: labelled positions after the first (the shift drops position 0)."""
    return sum(1 for label in labels[1:] if label != IGNORE)
