"""The ``dlm`` program: a table of commands and the one place DlmErrors become one line.

Commands are registered from a table of ``module:function`` names and imported only when used:
``dlm build`` on an up-to-date document should not pay for importing every other command.
``dlm --help`` imports them all (to list their help). Nothing here imports torch; commands that
need a model import it inside their own function.
"""

from __future__ import annotations

import importlib
import sys

HELP = "Build language models from documents: parse, train, export, verify. Everything stays local."

# name -> "module:attribute"; a Typer attribute is a sub-application (dlm cache ls|prune|clear).
COMMANDS: dict[str, str] = {
    "init": "dlmbuild.cli.init:init",
    "templates": "dlmbuild.cli.templates:templates_app",
    "show": "dlmbuild.cli.show:show",
    "migrate": "dlmbuild.cli.migrate:migrate",
    "build": "dlmbuild.cli.build:build",
    "graph": "dlmbuild.cli.graph:graph",
    "verify": "dlmbuild.cli.verify:verify",
    "cache": "dlmbuild.cli.cache:cache_app",
    "train": "dlmbuild.cli.train:train",
    "export": "dlmbuild.cli.export:export",
    "prompt": "dlmbuild.cli.prompt:prompt",
    "repl": "dlmbuild.cli.repl:repl",
    "eval": "dlmbuild.cli.eval:eval_command",
    "harvest": "dlmbuild.cli.harvest:harvest",
    "synth": "dlmbuild.cli.synth:synth_app",
    "preference": "dlmbuild.cli.preference:preference_app",
    "doctor": "dlmbuild.cli.doctor:doctor",
    "metrics": "dlmbuild.cli.metrics:metrics",
    "server": "dlmbuild.cli.server:server_app",
    "serve": "dlmbuild.cli.serve:serve",
    "pack": "dlmbuild.cli.pack:pack",
    "unpack": "dlmbuild.cli.pack:unpack",
    "remote": "dlmbuild.cli.remote:remote_app",
    "push": "dlmbuild.cli.remote:push",
    "pull": "dlmbuild.cli.remote:pull",
}


def make_app(only: str | None = None):
    """The Typer application with every command, or with just ``only`` (faster to start)."""
    import typer  # here, not at the top: a no-op `dlm build` answers without it

    app = typer.Typer(name="dlm", help=HELP, no_args_is_help=True, add_completion=False,
                      pretty_exceptions_enable=False, rich_markup_mode=None)
    for name, ref in COMMANDS.items():
        if only is not None and name != only:
            continue
        module, attr = ref.split(":")
        obj = getattr(importlib.import_module(module), attr)
        if isinstance(obj, typer.Typer):
            app.add_typer(obj, name=name)
        else:
            app.command(name)(obj)
    if only is not None:  # keep a single command a subcommand, not the app's default
        app.command("__placeholder", hidden=True)(lambda: None)
    return app


def __getattr__(name: str):
    """``from dlmbuild.cli.app import app`` gives the full application (tests, docs)."""
    if name == "app":
        return make_app()
    raise AttributeError(name)


def _noop(args: list[str]) -> bool:
    """``dlm build DOC [targets]`` with no options, when nothing changed since the last
    successful build of the same targets: print its result lines and stop, having imported
    nothing but the standard library (see engine/stamp.py)."""
    if not args or any(a.startswith("-") for a in args):
        return False
    from pathlib import Path

    from dlmbuild.engine.stamp import check_stamp
    from dlmbuild.store.home import dlm_home

    lines = check_stamp(dlm_home(), Path(args[0]), args[1:])
    if lines is None:
        return False
    print("\n".join(lines))
    return True


def _interrupt_on_term(signum, frame):
    """SIGTERM handler: raise KeyboardInterrupt so ``kill`` unwinds like Ctrl-C."""
    raise KeyboardInterrupt


def _forward(args: list[str]) -> int | None:
    """``dlm build`` through a running build server (see dlmbuild/server), else None."""
    if "--watch" in args:
        return None
    from dlmbuild.server.client import forward
    from dlmbuild.store.home import dlm_home

    return forward(["build", *args], dlm_home())


def run_cli(argv: list[str]) -> int:
    """Run one dlm command line in this process and return its exit code; DlmErrors become
    one line. ``main`` calls it, and so does the build server for each request it serves."""
    from dlmbuild.errors import DlmError  # here: the no-op and server paths never need it

    command = argv[0] if argv else None
    try:
        make_app(command if command in COMMANDS else None)(args=argv, prog_name="dlm")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except DlmError as exc:
        print(f"dlm: {exc}" if exc.location is None else str(exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("dlm: interrupted", file=sys.stderr)
        return 130
    return 0


def main() -> None:
    """The ``dlm`` console script. A plain ``dlm build`` first tries the two fast paths (the
    no-op stamp, then a running build server) before paying for Typer and the engine."""
    import gc
    import signal

    # A build allocates hundreds of thousands of small, mostly acyclic objects (sections,
    # lines, index entries); collecting young objects every 700 allocations rescans them over
    # and over. Rarer collections cut a 2,000-section tokenize by a sixth.
    gc.set_threshold(50_000, 20, 20)

    # `kill` gets the same clean stop as Ctrl-C: temp outputs removed, previous versions kept.
    signal.signal(signal.SIGTERM, _interrupt_on_term)
    command = sys.argv[1] if len(sys.argv) > 1 else None
    if command == "build":
        if _noop(sys.argv[2:]):
            return
        code = _forward(sys.argv[2:])
        if code is not None:
            sys.exit(code)
    sys.exit(run_cli(sys.argv[1:]))
