"""A minimal writer of CTranslate2's model.bin (binary version 6), for synthetic test models:
the layout ``dlmbuild.bases.ct2_model`` documents, written from named numpy arrays."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

_TYPE_IDS = {"float32": 0, "int8": 1, "int16": 2, "int32": 3, "float16": 4}


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("<H", len(raw) + 1) + raw + b"\0"


def write_ct2(path: Path, variables: dict, aliases: dict | None = None, *, spec: str = "WhisperSpec", version: int = 6) -> Path:
    out = [struct.pack("<I", version), _string(spec), struct.pack("<I", 3), struct.pack("<I", len(variables))]
    for name, value in sorted(variables.items()):
        value = np.asarray(value)
        out += [_string(name), struct.pack("<B", value.ndim), *(struct.pack("<I", d) for d in value.shape),
                struct.pack("<B", _TYPE_IDS[value.dtype.name]), struct.pack("<I", value.nbytes), value.astype(value.dtype.newbyteorder("<")).tobytes()]
    aliases = aliases or {}
    out.append(struct.pack("<I", len(aliases)))
    for alias, target in sorted(aliases.items()):
        out += [_string(alias), _string(target)]
    Path(path).write_bytes(b"".join(out))
    return Path(path)


def tiny_whisper(rng, *, d=8, heads=2, ffn=16, vocab=12, mels=4, enc_layers=2, dec_layers=1, src_pos=6, tgt_pos=5):
    """(transformers-named float16 state, CTranslate2 variables, aliases) of a tiny Whisper,
    fused the way CTranslate2's WhisperLoader fuses it."""
    f16 = lambda *shape: rng.standard_normal(shape).astype(np.float16)  # noqa: E731
    hf, ct = {}, {"encoder/num_heads": np.int16(heads), "decoder/num_heads": np.int16(heads),
                  "decoder/activation": np.int8(3), "decoder/scale_embeddings": np.int8(0)}

    def lin(hf_name, ct_name, out_dim, in_dim):
        hf[f"{hf_name}.weight"], hf[f"{hf_name}.bias"] = f16(out_dim, in_dim), f16(out_dim)
        ct[f"{ct_name}/weight"], ct[f"{ct_name}/bias"] = hf[f"{hf_name}.weight"], hf[f"{hf_name}.bias"]

    def norm(hf_name, ct_name):
        hf[f"{hf_name}.weight"], hf[f"{hf_name}.bias"] = f16(d), f16(d)
        ct[f"{ct_name}/gamma"], ct[f"{ct_name}/beta"] = hf[f"{hf_name}.weight"], hf[f"{hf_name}.bias"]

    def fused(hf_attn, ct_name, parts):
        weights, biases = [], []
        for part in parts:
            hf[f"{hf_attn}.{part}_proj.weight"] = f16(d, d)
            weights.append(hf[f"{hf_attn}.{part}_proj.weight"])
            if part == "k":
                biases.append(np.zeros(d, np.float16))
            else:
                hf[f"{hf_attn}.{part}_proj.bias"] = f16(d)
                biases.append(hf[f"{hf_attn}.{part}_proj.bias"])
        ct[f"{ct_name}/weight"], ct[f"{ct_name}/bias"] = np.concatenate(weights), np.concatenate(biases)

    def block(side, i):
        h, c = f"model.{side}.layers.{i}", f"{side}/layer_{i}"
        fused(f"{h}.self_attn", f"{c}/self_attention/linear_0", "qkv")
        lin(f"{h}.self_attn.out_proj", f"{c}/self_attention/linear_1", d, d)
        norm(f"{h}.self_attn_layer_norm", f"{c}/self_attention/layer_norm")
        if side == "decoder":
            lin(f"{h}.encoder_attn.q_proj", f"{c}/attention/linear_0", d, d)
            fused(f"{h}.encoder_attn", f"{c}/attention/linear_1", "kv")
            lin(f"{h}.encoder_attn.out_proj", f"{c}/attention/linear_2", d, d)
            norm(f"{h}.encoder_attn_layer_norm", f"{c}/attention/layer_norm")
        lin(f"{h}.fc1", f"{c}/ffn/linear_0", ffn, d)
        lin(f"{h}.fc2", f"{c}/ffn/linear_1", d, ffn)
        norm(f"{h}.final_layer_norm", f"{c}/ffn/layer_norm")

    hf["model.encoder.conv1.weight"], hf["model.encoder.conv1.bias"] = f16(d, mels, 3), f16(d)
    hf["model.encoder.conv2.weight"], hf["model.encoder.conv2.bias"] = f16(d, d, 3), f16(d)
    for conv in ("conv1", "conv2"):
        ct[f"encoder/{conv}/weight"], ct[f"encoder/{conv}/bias"] = hf[f"model.encoder.{conv}.weight"], hf[f"model.encoder.{conv}.bias"]
    hf["model.encoder.embed_positions.weight"] = ct["encoder/position_encodings/encodings"] = f16(src_pos, d)
    hf["model.decoder.embed_tokens.weight"] = ct["decoder/embeddings/weight"] = f16(vocab, d)
    hf["model.decoder.embed_positions.weight"] = ct["decoder/position_encodings/encodings"] = f16(tgt_pos, d)
    norm("model.encoder.layer_norm", "encoder/layer_norm")
    norm("model.decoder.layer_norm", "decoder/layer_norm")
    for i in range(enc_layers):
        block("encoder", i)
    for i in range(dec_layers):
        block("decoder", i)
    return hf, ct, {"decoder/projection/weight": "decoder/embeddings/weight"}
