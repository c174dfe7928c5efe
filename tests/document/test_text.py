"""dlmbuild.document.text: decoding bytes without losing any, and refusing what is not text."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlmbuild.document.text import BOM, SourceText, decode_document, line_col, normalize, read_document_text
from dlmbuild.errors import DocumentError, Location

P = Path("doc.dlm")


def error_of(data: bytes) -> str:
    with pytest.raises(DocumentError) as info:
        decode_document(P, data)
    return str(info.value)


def test_empty_file_is_refused_at_1_1():
    assert error_of(b"") == "doc.dlm:1:1: empty document (expected '---' to open the frontmatter)"


def test_nul_byte_is_binary_with_its_position():
    assert error_of(b"---\nabc\x00def\n") == "doc.dlm:2:4: binary content (NUL byte); a .dlm document is UTF-8 text"


def test_first_nul_is_reported_even_before_invalid_utf8():
    assert error_of(b"\x00\xff") == "doc.dlm:1:1: binary content (NUL byte); a .dlm document is UTF-8 text"


def test_non_utf8_reports_the_first_bad_byte():
    data = "---\nline two\ncafé ".encode("utf-8") + b"\xe9t\xe9\n"
    assert error_of(data) == "doc.dlm:3:7: not UTF-8 text (byte 0xe9)"


def test_latin1_document_is_not_utf8():
    assert error_of("---\nna\xefve\n".encode("latin-1")) == "doc.dlm:2:3: not UTF-8 text (byte 0xef)"


def test_truncated_multibyte_sequence_at_end():
    assert error_of("---\n€".encode("utf-8")[:-1]) == "doc.dlm:2:1: not UTF-8 text (byte 0xe2)"


def test_bom_is_stripped_and_remembered():
    src = decode_document(P, b"\xef\xbb\xbf---\nx\n")
    assert src.bom is True
    assert src.text == "---\nx\n"
    assert src.to_bytes() == b"\xef\xbb\xbf---\nx\n"


def test_no_bom_round_trips_exact_bytes():
    data = "---\r\nmixed\nendings\r\n  trailing  \n\n".encode()
    src = decode_document(P, data)
    assert src.bom is False
    assert src.text == data.decode()  # no universal-newline translation
    assert src.to_bytes() == data


def test_to_bytes_of_other_text_keeps_the_bom():
    src = decode_document(P, b"\xef\xbb\xbfa\n")
    assert src.to_bytes("b\n") == b"\xef\xbb\xbfb\n"


@pytest.mark.parametrize(
    ("text", "newline"),
    [("a\nb\n", "\n"), ("a\r\nb\r\n", "\r\n"), ("a\r\nb\nc\n", "\n"), ("a\r\nb\r\nc\n", "\r\n"), ("one line", "\n")],
)
def test_newline_is_the_dominant_ending(text: str, newline: str):
    assert SourceText(P, text, False).newline == newline


def test_read_missing_document(tmp_path: Path):
    path = tmp_path / "nope.dlm"
    with pytest.raises(DocumentError) as info:
        read_document_text(path)
    assert str(info.value) == f"{path}: no such document"
    assert info.value.exit_code == 2


def test_read_directory(tmp_path: Path):
    with pytest.raises(DocumentError) as info:
        read_document_text(tmp_path)
    assert str(info.value) == f"{tmp_path}: is a directory, not a .dlm document"


def test_read_document_text_reads_bytes(tmp_path: Path):
    path = tmp_path / "d.dlm"
    path.write_bytes(b"\xef\xbb\xbf---\r\n")
    src = read_document_text(path)
    assert (src.path, src.text, src.bom) == (path, "---\r\n", True)


@pytest.mark.parametrize(("offset", "expected"), [(0, (1, 1)), (2, (1, 3)), (3, (1, 4)), (4, (2, 1)), (6, (2, 3)), (7, (3, 1))])
def test_line_col(offset: int, expected: tuple[int, int]):
    assert line_col("abc\nde\nf", offset) == expected


def test_normalize_ignores_line_endings_bom_trailing_space_and_outer_blank_lines():
    assert normalize(BOM + "\r\n\r\n  a  \r\nb\t\r\n\r\n\r\n") == "  a\nb"
    assert normalize("x\ry") == "x\ny"
    assert normalize("a\n\n\nb") == "a\n\n\nb"  # inner blank lines are content


def test_location_formats():
    assert str(Location("d.dlm", 3, 7)) == "d.dlm:3:7"
    assert str(Location("d.dlm", 3)) == "d.dlm:3"
    assert str(Location("d.dlm")) == "d.dlm"
    assert str(DocumentError("bad", Location("d.dlm", 1, 2))) == "d.dlm:1:2: bad"
    assert str(DocumentError("bad")) == "bad"

