"""Decoding a document's bytes without losing any of them.

The writer promises that parse → write with no edits is byte-identical, CRLF and BOM included.
So we never use universal-newline reading: the text keeps its ``\\r\\n``, a UTF-8 BOM is
remembered and stripped, and anything that is not UTF-8 text is refused with the position of the
first bad byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dlmbuild.errors import DocumentError, Location

BOM = "\ufeff"


@dataclass(frozen=True)
class SourceText:
    """A document's text exactly as stored, minus an optional UTF-8 BOM."""

    path: Path
    text: str
    bom: bool

    @property
    def newline(self) -> str:
        """The dominant line ending, used for text the writer adds."""
        crlf = self.text.count("\r\n")
        lf = self.text.count("\n") - crlf
        return "\r\n" if crlf > lf else "\n"

    def to_bytes(self, text: str | None = None) -> bytes:
        """Encode ``text`` (default: the original) the way this document was stored."""
        body = self.text if text is None else text
        return ((BOM if self.bom else "") + body).encode("utf-8")


def decode_document(path: Path, data: bytes) -> SourceText:
    """Decode ``data`` as a .dlm document, refusing binary or non-UTF-8 content with a location."""
    if not data:
        raise DocumentError("empty document (expected '---' to open the frontmatter)", Location(path, 1, 1))
    nul = data.find(b"\x00")
    if nul != -1:
        line, col = _byte_position(data, nul)
        raise DocumentError("binary content (NUL byte); a .dlm document is UTF-8 text", Location(path, line, col))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _byte_position(data, exc.start)
        raise DocumentError(f"not UTF-8 text (byte 0x{data[exc.start]:02x})", Location(path, line, col)) from None
    bom = text.startswith(BOM)
    if bom:
        text = text[1:]
    return SourceText(path=path, text=text, bom=bom)


def read_document_text(path: Path) -> SourceText:
    """Read and decode a document from disk, turning OS errors into one-line DocumentErrors."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DocumentError("no such document", Location(path)) from None
    except IsADirectoryError:
        raise DocumentError("is a directory, not a .dlm document", Location(path)) from None
    except OSError as exc:
        raise DocumentError(f"cannot read document: {exc.strerror}", Location(path)) from None
    return decode_document(path, data)


def _byte_position(data: bytes, offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, offset) + 1
    col = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return line, col


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset in ``text``."""
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


def normalize(text: str) -> str:
    """The form section ids hash: LF line endings, no BOM, no trailing spaces, no outer blank lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip(BOM)
    lines = [ln.rstrip() for ln in text.split("\n")]
    return "\n".join(lines).strip("\n")
