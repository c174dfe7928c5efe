"""``dlm repl DOC``: a multi-turn chat with the trained model.

Slash commands: ``/adapter NAME`` (switch, keeping history; ``/adapter auto`` goes back to the
gate), ``/temp T``, ``/reset`` (forget history), ``/quit`` (or Ctrl-D), ``/help``. On a
multi-adapter document with the gate on, each message is routed unless an adapter is pinned.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import typer

from dlmbuild.errors import DlmError

HELP = "/adapter NAME|auto  pin an adapter or route by the gate | /temp T  set temperature | /reset  forget history | /quit  leave"


def repl(
    doc: Path = typer.Argument(..., help="The .dlm document."),
    adapter: str = typer.Option(None, "--adapter", "-a", help="Which adapter to start with."),
    adapter_mix: str = typer.Option(None, "--adapter-mix", help="Weighted sum of adapters, e.g. knowledge:0.7,tone:0.3."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", min=1, max=32768),
    temp: float = typer.Option(None, "--temp", min=0.0, max=2.0),
    top_p: float = typer.Option(None, "--top-p", min=0.01, max=1.0),
    seed: int = typer.Option(0, "--seed"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print the adapters used and their weights."),
) -> None:
    """Chat with the trained model, with history."""
    from dlmbuild.cli.prompt import sampling_options, stream
    from dlmbuild.cli.routing import fixed_weights, open_gate, say_weights
    from dlmbuild.infer.session import ChatSession, current_version
    from dlmbuild.project import Project

    project = Project.open(doc, materialize_base=True)
    pinned = fixed_weights(project, adapter, adapter_mix)
    names = project.doc.config.training.adapter_names
    for name in pinned or names:
        current_version(project, name)
    gate = open_gate(doc) if pinned is None else None
    session = ChatSession.open(project, next(iter(pinned or names)))
    if pinned:
        session.use(pinned)
    settings = sampling_options(project, max_new_tokens, temp, top_p, seed)
    history: list[dict[str, str]] = []
    interactive = sys.stdin.isatty()
    using = "the gate routes each message" if pinned is None else f"adapter {session.adapter} {session.version.label}"
    print(f"dlm repl: {doc.name}, {using}. {HELP}", file=sys.stderr)
    while True:
        try:
            line = input("> " if interactive else "")
        except EOFError:
            break
        line = line.strip()
        if not line:
            continue
        if line.startswith("/"):
            command, _, arg = line.partition(" ")
            try:
                if command in ("/quit", "/exit"):
                    break
                elif command == "/reset":
                    history.clear()
                    print("(history cleared)", file=sys.stderr)
                elif command == "/temp":
                    settings = dataclasses.replace(settings, temperature=_temperature(arg))
                    print(f"(temperature {settings.temperature:g})", file=sys.stderr)
                elif command == "/adapter" and arg.strip() == "auto":
                    if gate is None and project.doc.config.training.gate.enabled and len(names) > 1:
                        gate = open_gate(doc)
                    pinned = None if gate is not None else pinned
                    print("(the gate routes each message)" if gate is not None else "(no gate: training.gate is off)", file=sys.stderr)
                elif command == "/adapter":
                    session.switch(arg.strip() or None)
                    pinned = dict(session.weights)
                    print(f"(adapter {session.adapter} {session.version.label})", file=sys.stderr)
                elif command == "/help":
                    print(HELP, file=sys.stderr)
                else:
                    print(f"unknown command {command}; {HELP}", file=sys.stderr)
            except DlmError as exc:
                print(f"dlm: {exc}", file=sys.stderr)
            continue
        history.append({"role": "user", "content": line})
        if pinned is None:
            session.use(gate.weights(line))
        if verbose:
            say_weights(session.weights)
        answer = session.reply(history, settings, stream)
        sys.stdout.write("\n")
        history.append({"role": "assistant", "content": answer})


def _temperature(arg: str) -> float:
    """The ``/temp`` argument, or a UsageError the loop prints without ending the chat."""
    from dlmbuild.errors import UsageError

    try:
        value = float(arg)
    except ValueError:
        raise UsageError(f"/temp needs a number between 0 and 2, not '{arg}'") from None
    if not 0 <= value <= 2:
        raise UsageError(f"/temp needs a number between 0 and 2, not '{arg}'")
    return value
