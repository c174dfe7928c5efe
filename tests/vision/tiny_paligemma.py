"""A PaliGemma-shaped vision base built from a config, for tests (no PaliGemma weights exist here).

``build_tiny_paligemma`` writes a ``PaliGemmaForConditionalGeneration`` folder that
``AutoProcessor`` and ``AutoModelForMultimodalLM`` load offline:

- the language model is the embedded SmolLM2-135M (PaliGemma builds it from ``text_config``
  with ``AutoModel``, so a Llama config and weights fit), with bidirectional attention over the
  prefix as PaliGemma configures it;
- the vision tower is a tiny SigLIP encoder, randomly initialised from a seed: 2 layers, 64 wide,
  32x32 images of 8x8 patches, so an image is 16 image tokens. PaliGemma divides image features
  by the square root of the text width (Gemma scales its embeddings up by as much); the
  projector's weights are scaled up to match, so images reach the text model at the size its
  embeddings have;
- the processor is a real ``PaliGemmaProcessor`` (``<image>`` and its location and segmentation
  tokens added to SmolLM2's tokenizer, their embeddings the mean of the rest) with a PIL SigLIP
  image processor, and, like PaliGemma's, no chat template.
"""

from __future__ import annotations

from pathlib import Path

from tests.embedded_text_model import extended_text_model, load_text_weights

IMAGE_SIZE = 32
PATCH_SIZE = 8
IMAGE_SEQ_LEN = (IMAGE_SIZE // PATCH_SIZE) ** 2
VISION = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
          "image_size": IMAGE_SIZE, "patch_size": PATCH_SIZE, "vision_use_head": False}


def build_tiny_paligemma(folder: Path, embedded_dir: Path, seed: int = 0) -> Path:
    """Write the model, tokenizer and processor into ``folder`` (created); return it."""
    import torch
    from transformers import PaliGemmaConfig, PaliGemmaForConditionalGeneration, PaliGemmaProcessor
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer, text_config, old_vocab = extended_text_model(Path(embedded_dir), ("<image>",))
    tokenizer.chat_template = None  # PaliGemma's tokenizer has none; SmolLM2's ChatML would be inherited
    image_processor = SiglipImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
                                              image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    image_processor.image_seq_length = IMAGE_SEQ_LEN
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=tokenizer)  # adds <loc>/<seg> tokens
    text_config.vocab_size = len(tokenizer)
    text_config.use_bidirectional_attention = True
    width = text_config.hidden_size
    config = PaliGemmaConfig(vision_config=dict(VISION), text_config=text_config.to_dict(), projection_dim=width,
                             hidden_size=width, vocab_size=len(tokenizer), tie_word_embeddings=True,
                             image_token_index=tokenizer.convert_tokens_to_ids("<image>"), pad_token_id=tokenizer.pad_token_id)

    torch.manual_seed(seed)
    model = PaliGemmaForConditionalGeneration(config).eval()
    load_text_weights(model.model.language_model, Path(embedded_dir), len(tokenizer), old_vocab)
    with torch.no_grad():
        model.model.multi_modal_projector.linear.weight.mul_(width**0.5)
    model.tie_weights()
    model.save_pretrained(str(folder))
    processor.save_pretrained(str(folder))
    return folder
