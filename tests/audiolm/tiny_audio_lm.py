"""A Qwen2-Audio-shaped audio-language base built from a config, for tests (no audio-language
weights can be installed here).

``build_tiny_audio_lm`` writes a ``Qwen2AudioForConditionalGeneration`` folder that
``AutoProcessor`` and ``AutoModelForMultimodalLM`` load offline:

- the text model is the embedded SmolLM2-135M-Instruct (Qwen2-Audio builds its language model
  from ``text_config`` with ``AutoModel``, so a Llama text model fits), weights copied from its
  converted folder, so the model can learn a short answer in a few steps;
- the audio encoder is a tiny Whisper-style ``Qwen2AudioEncoder``, randomly initialised from a
  seed: 2 layers, 64 wide, over 128 mel bins of a 30 s window (the real one is 32 layers, 1280
  wide); the projector maps its frames into the text model's width;
- the tokenizer gains Qwen2-Audio's ``<|audio_bos|>``, ``<|AUDIO|>`` and ``<|audio_eos|>``, their
  embeddings set to the mean of the existing ones (the ``<|AUDIO|>`` rows are replaced by audio
  features anyway);
- the processor is a real ``Qwen2AudioProcessor``: Whisper's feature extractor at 16 kHz with
  128 mel bins (Qwen2-Audio's settings) and a ChatML template with one
  ``Audio N: <|audio_bos|><|AUDIO|><|audio_eos|>`` line per clip, as Qwen2-Audio's own template
  writes it, but with no default system prompt (SmolLM2's format).
"""

from __future__ import annotations

from pathlib import Path

from tests.embedded_text_model import extended_text_model, load_text_weights

SPECIAL_TOKENS = ("<|audio_bos|>", "<|AUDIO|>", "<|audio_eos|>")
CHAT_TEMPLATE = (
    "{% set audio_count = namespace(value=0) %}"
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'audio' %}{% set audio_count.value = audio_count.value + 1 %}"
    "Audio {{ audio_count.value }}: <|audio_bos|><|AUDIO|><|audio_eos|>\n"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
AUDIO = {"num_mel_bins": 128, "encoder_layers": 2, "encoder_attention_heads": 4, "encoder_ffn_dim": 128, "d_model": 64,
         "max_source_positions": 1500}


def build_tiny_audio_lm(folder: Path, embedded_dir: Path, seed: int = 0) -> Path:
    """Write the model, tokenizer and processor into ``folder`` (created); return it."""
    import torch
    from transformers import (Qwen2AudioConfig, Qwen2AudioForConditionalGeneration,
                              Qwen2AudioProcessor, WhisperFeatureExtractor)

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    embedded_dir = Path(embedded_dir)

    tokenizer, text_config, old_vocab = extended_text_model(embedded_dir, SPECIAL_TOKENS)
    config = Qwen2AudioConfig(audio_config={"model_type": "qwen2_audio_encoder", **AUDIO}, text_config=text_config.to_dict(),
                              audio_token_index=tokenizer.convert_tokens_to_ids("<|AUDIO|>"), tie_word_embeddings=True)
    config.pad_token_id = tokenizer.pad_token_id

    torch.manual_seed(seed)
    model = Qwen2AudioForConditionalGeneration(config).eval()
    load_text_weights(model.model.language_model, embedded_dir, len(tokenizer), old_vocab)
    model.tie_weights()
    model.save_pretrained(str(folder))

    features = WhisperFeatureExtractor(feature_size=128, sampling_rate=16000)
    processor = Qwen2AudioProcessor(feature_extractor=features, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)
    processor.save_pretrained(str(folder))
    return folder
