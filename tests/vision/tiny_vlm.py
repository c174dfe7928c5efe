"""A SmolVLM-shaped vision-language base built from a config, for tests (no VL weights exist here).

``build_tiny_vlm`` writes an ``Idefics3ForConditionalGeneration`` folder that ``AutoProcessor``
and ``AutoModelForImageTextToText`` load offline:

- the text model is the embedded SmolLM2-135M-Instruct, weights copied from its converted folder,
  so the model can learn a short answer in a few steps;
- the vision tower is a tiny SigLIP-style encoder, randomly initialised from a seed: 2 layers,
  64 wide, 64x64 tiles of 16x16 patches. With scale factor 2 the connector turns one tile into
  (64/16)^2 / 2^2 = 4 image tokens, so a whole image costs 5 tiles (2x2 grid + global) = 20 tokens;
- the tokenizer gains SmolVLM's special tokens (``<fake_token_around_image>``, ``<image>``,
  ``<global-img>``, ``<row_i_col_j>``, ``<end_of_utterance>``), their embeddings set to the mean of
  the existing ones (a neutral start; the ``<image>`` rows are replaced by image features anyway);
- the processor is a real ``Idefics3Processor`` with a PIL image processor: images are resized to
  a longest edge of 128 and split into 64x64 tiles plus a 64x64 global view. Splitting matters for
  the llama.cpp comparison: llama.cpp's Idefics3 preprocessing always emits tiles plus the global
  view, while transformers skips the tiles for an image no larger than one tile;
- the chat template is SmolLM2's ChatML with an ``<image>`` placeholder per image part (no default
  system prompt), so the text model keeps the format it was tuned on and ``<|im_end|>`` stays the
  end-of-turn token for transformers and llama.cpp alike.

Word embeddings stay tied (as in SmolLM2): the text GGUF then has no separate output matrix.
"""

from __future__ import annotations

from pathlib import Path

from tests.embedded_text_model import extended_text_model, load_text_weights

IMAGE_SIZE = 64  # one tile (vision_config.image_size and max_image_size.longest_edge)
LONGEST_EDGE = 128  # images are resized to this longest edge, then split into IMAGE_SIZE tiles
PATCH_SIZE = 16
SCALE_FACTOR = 2
IMAGE_SEQ_LEN = (IMAGE_SIZE // PATCH_SIZE) ** 2 // SCALE_FACTOR**2

SPECIAL_TOKENS = ("<fake_token_around_image>", "<image>", "<global-img>", "<end_of_utterance>",
                  *(f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)))

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<image>{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

VISION = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
          "image_size": IMAGE_SIZE, "patch_size": PATCH_SIZE, "layer_norm_eps": 1e-6}


def build_tiny_vlm(folder: Path, embedded_dir: Path, seed: int = 0) -> Path:
    """Write the model, tokenizer and processor into ``folder`` (created); return it."""
    import torch
    from transformers import (Idefics3Config, Idefics3ForConditionalGeneration,
                              Idefics3ImageProcessorPil, Idefics3Processor)

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    embedded_dir = Path(embedded_dir)

    tokenizer, text_config, old_vocab = extended_text_model(embedded_dir, SPECIAL_TOKENS)
    text_config.architectures = ["LlamaForCausalLM"]  # what llama.cpp's converter reads for the text GGUF
    config = Idefics3Config(text_config=text_config.to_dict(), vision_config=dict(VISION), scale_factor=SCALE_FACTOR,
                            image_token_id=tokenizer.convert_tokens_to_ids("<image>"), tie_word_embeddings=True,
                            pad_token_id=tokenizer.pad_token_id)

    torch.manual_seed(seed)
    model = Idefics3ForConditionalGeneration(config).eval()
    load_text_weights(model.model.text_model, embedded_dir, len(tokenizer), old_vocab)
    model.tie_weights()
    model.save_pretrained(str(folder))

    image_processor = Idefics3ImageProcessorPil(
        size={"longest_edge": LONGEST_EDGE}, max_image_size={"longest_edge": IMAGE_SIZE}, do_image_splitting=True,
        image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer, image_seq_len=IMAGE_SEQ_LEN,
                                  chat_template=CHAT_TEMPLATE)
    processor.save_pretrained(str(folder))
    return folder
