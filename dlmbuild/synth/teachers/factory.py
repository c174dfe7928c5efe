"""From a ``TeacherSpec`` to a ``Teacher``, in two steps: ``check_teacher`` (cheap: paths,
keys, an untrained adapter, all refused in one line before anything slow) and ``open_teacher``
(loads a model or builds a client)."""

from __future__ import annotations

from pathlib import Path

from dlmbuild.errors import UsageError
from dlmbuild.synth.teacher_spec import TeacherSpec

KEY_VARIABLES = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}


def check_teacher(spec: TeacherSpec, project, adapter: str, *, timeout: float = 120.0) -> None:
    import os

    if spec.scheme == "self":
        from dlmbuild.errors import EXIT_BAD_INPUT
        from dlmbuild.infer.session import current_version

        current_version(project, adapter, run="build", exit_code=EXIT_BAD_INPUT)
    elif spec.scheme == "hf":
        from dlmbuild.synth.teachers.local import resolve_hf

        resolve_hf(spec.target)
    elif spec.scheme == "gguf":
        path = Path(spec.target).expanduser()
        if not path.is_file():
            raise UsageError(f"teacher gguf:{spec.target}: no such file")
    elif spec.scheme in KEY_VARIABLES and not os.environ.get(KEY_VARIABLES[spec.scheme]):
        raise UsageError(f"teacher {spec.label} needs {KEY_VARIABLES[spec.scheme]} in the environment")


def open_teacher(spec: TeacherSpec, project, adapter: str, *, timeout: float = 120.0):
    if spec.scheme == "base":
        from dlmbuild.synth.teachers.local import open_base

        return open_base(project)
    if spec.scheme == "self":
        from dlmbuild.synth.teachers.local import open_self

        return open_self(project, adapter)
    if spec.scheme == "hf":
        from dlmbuild.synth.teachers.local import open_hf

        return open_hf(spec.target)
    if spec.scheme == "gguf":
        from dlmbuild.synth.teachers.gguf import GgufTeacher

        return GgufTeacher(spec)
    from dlmbuild.synth.teachers.remote import open_remote_teacher

    return open_remote_teacher(spec, timeout=timeout)
