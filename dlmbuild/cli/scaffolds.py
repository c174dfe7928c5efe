"""The scaffolds ``dlm init --template`` writes and ``dlm templates`` lists.

The documents are package data in ``dlmbuild/document/templates/NAME.dlm``, with ``{dlm_id}``
and ``{base_model}`` placeholders; ``SCAFFOLDS`` names them in the order they are listed, each
with its one-line description (a test checks the table and the folder agree). Both commands
read them only through this module, so a new scaffold is one file plus one row here.
"""

from __future__ import annotations

from importlib import resources

from dlmbuild.util.suggest import did_you_mean
from dlmbuild.errors import UsageError

DEFAULT_SCAFFOLD = "tutor"

SCAFFOLDS: dict[str, str] = {
    "tutor": "a system prompt, explicit training settings, a prose section and one Q/A pair",
    "multi-adapter": "adapters knowledge and tone, shared prose, a Q/A pair for each",
    "blank": "frontmatter only: dlm_id, dlm_version, base_model",
    "multimodal": "a vision-language base: an example image with its caption and a question about it",
    "audio": "a speech base: an example clip with its exact transcript",
}
# Media a scaffold's sections name, shipped beside the scaffolds and written next to the new
# document (so the scaffold parses at once), and the base each such scaffold defaults to.
SCAFFOLD_MEDIA: dict[str, tuple[str, ...]] = {"multimodal": ("media/example.png",), "audio": ("media/example.wav",)}
SCAFFOLD_BASE: dict[str, str] = {"multimodal": "smolvlm-256m", "audio": "whisper-tiny.en"}


def scaffold_names() -> tuple[str, ...]:
    return tuple(SCAFFOLDS)


def check_scaffold(name: str) -> str:
    """``name`` if it is a scaffold; otherwise a UsageError (exit 2) with a did-you-mean."""
    if name not in SCAFFOLDS:
        names = ", ".join(SCAFFOLDS)
        raise UsageError(f"unknown template '{name}'{did_you_mean(name, SCAFFOLDS)}; choose from {names}")
    return name


def scaffold_text(name: str) -> str:
    """The scaffold as shipped, placeholders and all."""
    folder = resources.files("dlmbuild.document").joinpath("templates")
    return folder.joinpath(f"{check_scaffold(name)}.dlm").read_text(encoding="utf-8")


def render_scaffold(name: str, base: str, dlm_id: str) -> str:
    """The scaffold as a document: its placeholders filled with ``dlm_id`` and ``base``."""
    return scaffold_text(name).replace("{dlm_id}", dlm_id).replace("{base_model}", base)


def scaffold_media(name: str) -> dict[str, bytes]:
    """The media files (path relative to the document -> bytes) a scaffold's sections name."""
    folder = resources.files("dlmbuild.document").joinpath("templates")
    return {rel: folder.joinpath(rel).read_bytes() for rel in SCAFFOLD_MEDIA.get(name, ())}


def shipped_scaffolds() -> list[str]:
    """The names of the .dlm files actually in the package (what the table must list)."""
    folder = resources.files("dlmbuild.document").joinpath("templates")
    return sorted(p.name.removesuffix(".dlm") for p in folder.iterdir() if p.name.endswith(".dlm"))
