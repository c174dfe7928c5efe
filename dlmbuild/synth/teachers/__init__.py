"""Teachers: anything that answers a (system, user) chat turn with text.

Every teacher has the same small surface, so the pipeline never knows which it talks to::

    teacher = open_teacher(spec, project)       # dlmbuild.synth.teachers.factory
    reply = teacher.complete(system, user, sampling)
    teacher.close()

``complete`` returns the reply text. A reply that is empty or not what was asked for is still
returned (the parser counts it as unparsable); only failures of the teacher itself (a server
that does not answer, a refused key) raise a ``DlmError`` of one line that names no secret.
"""

from __future__ import annotations

from typing import Protocol

from dlmbuild.infer.generate import Sampling


class Teacher(Protocol):
    label: str  # as provenance records it (TeacherSpec.label)

    def complete(self, system: str, user: str, sampling: Sampling) -> str: ...

    def close(self) -> None: ...
