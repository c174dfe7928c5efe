"""``dlm prompt DOC "text"``: one answer from the current adapter versions, streamed; on a
multi-adapter document, from the adapters ``--adapter``, ``--adapter-mix`` or the gate choose."""

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
    text: str = typer.Argument(None, help="The question or instruction; '-' reads it from stdin (optional with --audio on a speech base)."),
    adapter: str = typer.Option(None, "--adapter", "-a", help="Answer with this adapter alone."),
    adapter_mix: str = typer.Option(None, "--adapter-mix", help="Weighted sum of adapters, e.g. knowledge:0.7,tone:0.3."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", min=1, max=32768),
    temp: float = typer.Option(None, "--temp", min=0.0, max=2.0, help="Sampling temperature; 0 is greedy (default: export.default_temperature)."),
    top_p: float = typer.Option(None, "--top-p", min=0.01, max=1.0, help="Nucleus sampling mass (default: export.default_top_p)."),
    seed: int = typer.Option(0, "--seed", help="Seed for sampling (the same seed gives the same answer)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print the adapters used and their weights."),
    image: list[Path] = typer.Option(None, "--image", help="An image to ask about (vision-language bases; repeatable)."),
    audio: list[Path] = typer.Option(None, "--audio", help="A clip: transcribed by a speech base, asked about by an audio-language one."),
) -> None:
    """Ask the trained model a question (a multi-adapter document with the gate on is routed)."""
    from dlmbuild.cli.media_prompt import answer_with_media, check_media_options
    from dlmbuild.cli.routing import fixed_weights, open_gate, say_weights
    from dlmbuild.errors import UsageError
    from dlmbuild.infer.session import ChatSession, current_version
    from dlmbuild.project import Project

    project = Project.open(doc, materialize_base=True)
    modality = check_media_options(project, list(image or []), list(audio or []), text)
    if modality != "text":
        if adapter_mix:
            raise UsageError("--adapter-mix works on text bases only; pick one adapter with --adapter")
        pinned = fixed_weights(project, adapter, None)  # a misspelt --adapter gets 'did you mean'
        name = next(iter(pinned)) if pinned else project.doc.config.training.adapter_names[0]
        question = sys.stdin.read() if text == "-" else text
        temperature = 0.0 if temp is None else temp
        typer.echo(answer_with_media(project, modality, name, list(image or []), list(audio or []), question,
                                     max_new_tokens, temperature))
        return
    weights = fixed_weights(project, adapter, adapter_mix)
    for name in weights or project.doc.config.training.adapter_names:
        current_version(project, name)  # refuse before the slow load when nothing is trained yet
    question = sys.stdin.read() if text == "-" else text
    if weights is None:
        weights = open_gate(doc).weights(question)
    if verbose:
        say_weights(weights)
    session = ChatSession.open(project, next(iter(weights)))
    session.use(weights)
    settings = sampling_options(project, max_new_tokens, temp, top_p, seed)
    session.ask(question, settings, stream)
    sys.stdout.write("\n")
