"""Shared document snippets and the catalogue of bad inputs used by the document and CLI tests.

Every bad case names the exact ``LINE:COL: message`` the parser must report, so the document
tests (``parse_document``) and the CLI tests (``dlm show``) check the same contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DLM_ID = "01HZZZZZZZZZZZZZZZZZZZZZZZ"
BASE = "smollm2-135m"


def frontmatter(extra: str = "", *, dlm_id: str = DLM_ID, base: str = BASE) -> str:
    """A valid frontmatter block: '---', dlm_id (line 2), base_model (line 3), ``extra``, '---'."""
    return f"---\ndlm_id: {dlm_id}\nbase_model: {base}\n{extra}---\n"


def document(body: str = "", extra: str = "") -> str:
    """A whole document: valid frontmatter plus ``body`` (which starts on line 5 + lines of extra)."""
    return frontmatter(extra) + body


TWO_ADAPTERS = "training:\n  adapters: [knowledge, tone]\n"


@dataclass(frozen=True)
class BadCase:
    """A document that must be refused, and the ``LINE:COL: message`` that says why."""

    id: str
    data: bytes
    expected: str  # 'LINE:COL: message', appended to the document's path
    files: dict[str, bytes] = field(default_factory=dict)  # other files beside the document
    symlinks: dict[str, str] = field(default_factory=dict)  # name -> target
    stage: str = "parse"  # "sources": found only when training.sources are expanded


def _doc(body: str = "", extra: str = "") -> bytes:
    return document(body, extra).encode("utf-8")


BAD_CASES: list[BadCase] = [
    BadCase("empty-file", b"", "1:1: empty document (expected '---' to open the frontmatter)"),
    BadCase("binary-garbage", b"---\n\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "4:1: binary content (NUL byte); a .dlm document is UTF-8 text"),
    BadCase("not-utf8", _doc("caf") + b"\xe9 au lait\n", "5:4: not UTF-8 text (byte 0xe9)"),
    BadCase("no-frontmatter", b"# Notes\n", "1:1: a .dlm document must start with a '---' line opening the frontmatter"),
    BadCase("unclosed-frontmatter", f"---\ndlm_id: {DLM_ID}\nbase_model: {BASE}\n\nHello\n".encode(), "1:1: frontmatter opened on line 1 is never closed with a '---' line"),
    BadCase("broken-yaml", _doc("", "training:\n  lora_r: 8\n   seed: 1\n"), "6:8: invalid YAML in frontmatter: mapping values are not allowed in this context"),
    BadCase("broken-yaml-flow", _doc("", "training: [a\n"), "5:1: invalid YAML in frontmatter: did not find expected ',' or ']'"),
    BadCase("duplicate-key", _doc("", "base_model: smollm2-360m\n"), "4:1: duplicate key 'base_model' (first set on line 3)"),
    BadCase("unknown-field", _doc("", "training:\n  lora_rr: 8\n"), "5:3: unknown field 'lora_rr' in training (did you mean 'lora_r'?)"),
    BadCase("unknown-top-field", _doc("", "sytem_prompt: hi\n"), "4:1: unknown field 'sytem_prompt' (did you mean 'system_prompt'?)"),
    BadCase("out-of-range", _doc("", "training:\n  lora_r: 0\n"), "5:11: training.lora_r: input should be greater than or equal to 1"),
    BadCase("out-of-range-float", _doc("", "export:\n  default_temperature: 5\n"), "5:24: export.default_temperature: input should be less than or equal to 2"),
    BadCase("bad-ulid", f"---\ndlm_id: 01HZ-not-a-ulid\nbase_model: {BASE}\n---\n".encode(), "2:9: dlm_id must be a 26-character Crockford base32 ULID (run 'dlm init' for a fresh one)"),
    BadCase("missing-base", f"---\ndlm_id: {DLM_ID}\n---\n".encode(), "2:1: missing required field 'base_model'"),
    BadCase("unknown-base", f"---\ndlm_id: {DLM_ID}\nbase_model: smollm2-13m\n---\n".encode(), "3:13: base_model: unknown base model 'smollm2-13m' (did you mean 'smollm2-135m'?); use a registry key, hf:org/name, or a local path"),
    BadCase("future-version", _doc("", "dlm_version: 3\n"), "4:14: document is schema version 3; this dlm reads versions up to 2 (upgrade dlm)"),
    BadCase("unknown-section-type", _doc("::instuction::\n### Q\nq\n### A\na\n"), "5:3: unknown section type 'instuction' (did you mean 'instruction'?)"),
    BadCase("q-without-a", _doc("::instruction::\n### Q\nWhat?\n"), "6:1: '### Q' has no '### A' answer"),
    BadCase("q-then-q", _doc("::instruction::\n### Q\nOne?\n### Q\nTwo?\n### A\nYes.\n"), "6:1: '### Q' has no '### A' answer"),
    BadCase("empty-answer", _doc("::instruction::\n### Q\nWhat?\n\n### A\n\n\n"), "9:1: empty answer"),
    BadCase("a-without-q", _doc("::instruction::\n### A\nYes.\n"), "6:1: '### A' without a '### Q' before it"),
    BadCase("preference-out-of-order", _doc("::preference::\n### Prompt\np\n### Rejected\nr\n### Chosen\nc\n"), "8:1: expected '### Chosen' after '### Prompt', found '### Rejected'"),
    BadCase("preference-incomplete", _doc("::preference::\n### Prompt\np\n### Chosen\nc\n"), "8:1: '### Chosen' is not followed by '### Rejected'"),
    BadCase("media-missing-attribute", _doc('::image path="cat.png"::\n'), "5:1: image fence is missing required attribute 'alt'", files={"cat.png": b"\x89PNG"}),
    BadCase("media-not-an-image", _doc('::image path="cat.png" alt="a cat"::\n'),
            "5:9: media file 'cat.png' cannot be opened by Pillow (cannot identify image file 'cat.png')", files={"cat.png": b"\x89PNG"}),
    BadCase("media-not-a-clip", _doc('::audio path="hi.wav" transcript="hello"::\n'),
            "5:9: media file 'hi.wav' cannot be opened by soundfile (Error opening hi.wav: Format not recognised.)", files={"hi.wav": b"RIFF"}),
    BadCase("media-missing-file", _doc('::image path="cat.png" alt="a cat"::\n'), "5:9: media file 'cat.png' not found"),
    BadCase("audio-missing-file", _doc('::audio#tone path="hi.wav" transcript="hi"::\n', TWO_ADAPTERS), "7:14: media file 'hi.wav' not found"),
    BadCase("duplicate-attribute", _doc('::image path="a.png" path="b.png" alt="x"::\n'), "5:22: duplicate attribute 'path'"),
    BadCase("unknown-attribute", _doc('::image path="a.png" alt="x" size="2"::\n', ), "5:30: unknown attribute 'size'; image takes path, alt"),
    BadCase("unknown-adapter", _doc("::instruction#tne::\n### Q\nq\n### A\na\n", TWO_ADAPTERS), "7:15: unknown adapter 'tne' (did you mean 'tone'?) (declared: knowledge, tone)"),
    BadCase("unknown-adapter-undeclared", _doc("::prose#tone::\nhello\n"), "5:9: unknown adapter 'tone' (declared: default)"),
    BadCase("unclosed-code-block", _doc("intro\n\n```python\n::instruction::\n### Q\n"), "7:1: code block opened here is never closed (add a closing ``` line)"),
    BadCase("fence-not-closed", _doc("::instruction\n### Q\nq\n### A\na\n"), "5:14: section fence must end with '::'"),
    BadCase("provenance-unknown-kind", _doc('::prose::\n<!-- auto-synt teacher="x" -->\nhello\n'), "6:6: unknown provenance kind 'auto-synt' (did you mean 'auto-synth'?)"),
    BadCase("media-path-escapes", _doc('::image path="../cat.png" alt="a cat"::\n'), "5:9: media path '../cat.png' leaves the document's folder (sources_policy: strict)"),
    BadCase("media-symlink-escapes", _doc('::image path="cat.png" alt="a cat"::\n'), "5:9: media path 'cat.png' leaves the document's folder (sources_policy: strict)", symlinks={"cat.png": "/etc/hostname"}),
    BadCase("source-escapes", _doc("", "training:\n  sources: [../elsewhere]\n"), "5:13: source path '../elsewhere' leaves the document's folder (sources_policy: strict)", stage="sources"),
    BadCase("source-absolute", _doc("", "training:\n  sources:\n    - path: /etc\n"), "6:13: source path '/etc' is absolute (sources_policy: strict allows only paths inside the document's folder)", stage="sources"),
    BadCase("preference-same-answers", _doc("::preference::\n### Prompt\nq\n### Chosen\nthe answer\n### Rejected\nthe  answer \n"), "10:1: '### Rejected' is the same as '### Chosen': a preference needs two different answers"),
    BadCase("preference-method", _doc("", "training:\n  preference:\n    method: ppo\n"), "6:13: training.preference.method: input should be 'dpo' or 'orpo'"),
    BadCase("source-missing", _doc("", "training:\n  sources: [note]\n"), "5:13: source path 'note' not found (did you mean 'notes'?)", files={"notes/a.md": b"a\n"}, stage="sources"),
]


def suite_threads() -> str:
    """Threads for a torch job a test starts (``DLM_THREADS``): every core when the suite runs
    in one process, an equal share under xdist's workers, because two busy 2-thread torch jobs
    on two cores slow each other 3-10x (FIELD_NOTES). Adapter bytes do not depend on it."""
    import os

    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return str(max(1, (os.cpu_count() or 2) // workers))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for servers tests start)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, server, log_path, what: str, timeout: float = 120.0) -> None:
    """Poll ``url`` until it answers; fail with the server's log tail if ``server`` (a Popen)
    exits first, or after ``timeout`` seconds."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            assert server.poll() is None, log_path.read_text(errors="replace")[-2000:]
            assert time.monotonic() < deadline, f"{what} did not start in {timeout:.0f} s"
            time.sleep(0.3)


def tiny_png(color: tuple[int, int, int] = (200, 40, 40), size: tuple[int, int] = (4, 4)) -> bytes:
    """A real PNG (media sections are opened with Pillow on every parse)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def tiny_wav(seconds: float = 0.1, rate: int = 16000) -> bytes:
    """A real mono 16-bit WAV of silence (clips are opened with soundfile on every parse)."""
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x00" * int(seconds * rate))
    return buffer.getvalue()
