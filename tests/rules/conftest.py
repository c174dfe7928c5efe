"""A tiny local base (config, WordLevel tokenizer with a ChatML template, one safetensors file)
and a document on it, so rule tests run the real tokenize path without any download."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
WORDS = "the a is of what who fact item value paragraph system user assistant answer question note grams".split()


def make_base(folder: Path) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<unk>": 0, "<|im_start|>": 1, "<|im_end|>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8, "intermediate_size": 16,
              "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": len(vocab)}
    (folder / "config.json").write_text(json.dumps(config))
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.add_special_tokens(["<|im_start|>", "<|im_end|>"])
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "chat_template": CHATML}))
    save_file({"model.embed_tokens.weight": np.zeros((len(vocab), 8), dtype=np.float32)}, str(folder / "model.safetensors"))
    return folder


DOC = """---
dlm_id: 01JD5ZQ8V7W9X2Y3Z4A5B6C7D8
base_model: ./base
system_prompt: the system
training:
  sequence_len: 64
  sources:
    - path: notes
export:
  default_quant: Q4_K_M
---
the paragraph is a note of value

::instruction::
### Q
what is the fact
### A
the fact is a value

::prose::
the item is of value
"""


def age(root: Path) -> None:
    """Make every file look an hour old, as in a real checkout (outside the racy window)."""
    old = time.time() - 3600
    for dirpath, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            os.utime(os.path.join(dirpath, name), (old, old))
        os.utime(dirpath, (old, old))


@pytest.fixture
def project_dir(tmp_path, monkeypatch):
    root = tmp_path / "proj"
    make_base(root / "base")
    (root / "notes").mkdir(parents=True)
    (root / "notes" / "a.md").write_text("the note is a fact\n")
    (root / "notes" / "b.md").write_text("what is the item\n")
    (root / "doc.dlm").write_text(DOC)
    age(root)
    monkeypatch.setenv("DLM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return root


def notes_project(tmp_path: Path, monkeypatch, doc: str, note: str = "the note is a fact\n") -> Path:
    """``tmp_path/proj/doc.dlm`` with an untrained tiny base and ``notes/a.md``, aged, DLM_HOME
    ``tmp_path/home``, offline: what tests of the graph and keys start from."""
    root = tmp_path / "proj"
    make_base(root / "base")
    (root / "notes").mkdir()
    (root / "notes" / "a.md").write_text(note)
    (root / "doc.dlm").write_text(doc)
    age(root)
    monkeypatch.setenv("DLM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return root / "doc.dlm"


def make_trainable_base(folder: Path, seed: int = 0) -> Path:
    """``make_base`` plus real random-init Llama weights (hidden 16, 2 layers), built from a config
    in the test: the real training path on a model that trains in milliseconds per step."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    make_base(folder)
    vocab = json.loads((folder / "config.json").read_text())["vocab_size"]
    config = LlamaConfig(vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=1, max_position_embeddings=256, tie_word_embeddings=True,
                         bos_token_id=1, eos_token_id=2, pad_token_id=2)
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(str(folder))
    return folder


def trainable_project(tmp_path: Path, monkeypatch, doc: str = DOC, files: dict[str, str] | None = None) -> Path:
    """``tmp_path/proj``: a trainable tiny base, ``notes/a.md`` and ``doc.dlm`` (plus ``files``),
    aged; the working directory is ``tmp_path``, DLM_HOME ``tmp_path/home``, one torch thread.
    What the CLI tests of commands that need a trained model start from."""
    monkeypatch.setenv("DLM_THREADS", "1")
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "proj"
    make_trainable_base(root / "base")
    (root / "notes").mkdir()
    (root / "notes" / "a.md").write_text("the note is a fact\n")
    (root / "doc.dlm").write_text(doc)
    for name, text in (files or {}).items():
        (root / name).write_text(text)
    age(root)
    monkeypatch.setenv("DLM_HOME", str(tmp_path / "home"))
    return root


@pytest.fixture
def one_torch_thread():
    """Torch on one thread for the test, restored after: tiny models train faster so, and the
    suite's tests do not compete for the CPU's cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def trainable_dir(project_dir):
    """``project_dir`` whose base has real (random) weights."""
    make_trainable_base(project_dir / "base")
    age(project_dir)
    return project_dir
