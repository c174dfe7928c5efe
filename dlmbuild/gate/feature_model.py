"""The gate's feature model: the base GGUF cut after its first ``FEATURE_LAYERS`` blocks.

Routing must be cheap next to answering: the full 30-block base takes about 55 ms to embed a
ten-token prompt here, more than two generated tokens, which made routing 13.5 % of a short
request. Eight blocks take a quarter of that, and on the gate benchmark's held-out prompts the
mean-pooled state after block 8 routed as well as the last one (56/56 against 55/56, measured
with transformers' hidden states before this file existed). llama.cpp applies the base's final
norm after the last block it has, so the features are the normed state after block 8.

The cut is written with gguf-py (metadata copied, ``<arch>.block_count`` lowered, later blocks'
tensors left out), byte-identical from the same base, into ``:gate``'s output beside the gate,
so prompting, serving and bundles load it as they are.
"""

from __future__ import annotations

import re
from pathlib import Path

FEATURE_LAYERS = 8
FEATURES_FILE = "features.F16.gguf"
_BLOCK = re.compile(r"^blk\.(\d+)\.")


def write_feature_model(base: Path, dest: Path, layers: int = FEATURE_LAYERS) -> int:
    """Write ``base`` cut after ``layers`` blocks to ``dest``; returns the blocks kept."""
    import gguf

    reader = gguf.GGUFReader(str(base))
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE).contents()
    count_key = f"{arch}.block_count"
    keep = min(layers, int(reader.get_field(count_key).contents()))
    writer = gguf.GGUFWriter(str(dest), arch)
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue  # the writer adds these itself
        kind = field.types[0]
        sub_type = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        value = keep if field.name == count_key else field.contents()
        writer.add_key_value(field.name, value, kind, sub_type=sub_type)
    tensors = [t for t in reader.tensors if not (_BLOCK.match(t.name) and int(_BLOCK.match(t.name).group(1)) >= keep)]
    for tensor in tensors:
        writer.add_tensor_info(tensor.name, tensor.data.shape, tensor.data.dtype, tensor.data.nbytes, tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in tensors:
        writer.write_tensor_data(tensor.data, tensor_endianess=reader.endianess)
    writer.close()
    return keep
