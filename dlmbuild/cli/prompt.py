"""``dlm prompt DOC "text"``: one answer from the current adapter version, streamed."""

from __future__ import annotations

import sys
from pathlib import Path

import typer


def stream(piece: str) -> None:
    """Print a piece of a streamed answer as soon as it arrives."""
    sys.stdout.write(piece)
    sys.stdout.flush()


def sampling_options(project, max_new_tokens, temp, top_p, seed):
    """Sampling settings: command-line values where given, else the document's export defaults
    (the same ones an exported Modelfile carries, so both answer alike)."""
    from dlmbuild.infer.generate import Sampling

    export = project.doc.config.export
    return Sampling(max_new_tokens=max_new_tokens, temperature=export.default_temperature if temp is None else temp,
                    top_p=export.default_top_p if top_p is None else top_p, seed=seed)


def prompt(
    doc: Path = typer.Argument(..., help="The .dlm document."),
    text: str = typer.Argument(..., help="The question or instruction; '-' reads it from stdin."),
    adapter: str = typer.Option(None, "--adapter", "-a", help="Which adapter (required when the document declares several)."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", min=1, max=32768),
    temp: float = typer.Option(None, "--temp", min=0.0, max=2.0, help="Sampling temperature; 0 is greedy (default: export.default_temperature)."),
    top_p: float = typer.Option(None, "--top-p", min=0.01, max=1.0, help="Nucleus sampling mass (default: export.default_top_p)."),
    seed: int = typer.Option(0, "--seed", help="Seed for sampling (the same seed gives the same answer)."),
) -> None:
    """Ask the trained model a question."""
    from dlmbuild.infer.session import ChatSession, choose_adapter, current_version
    from dlmbuild.project import Project

    project = Project.open(doc, materialize_base=True)
    name = choose_adapter(project, adapter)
    current_version(project, name)  # refuse before the slow load when nothing is trained yet
    question = sys.stdin.read() if text == "-" else text
    session = ChatSession.open(project, name)
    settings = sampling_options(project, max_new_tokens, temp, top_p, seed)
    session.ask(question, settings, stream)
    sys.stdout.write("\n")
