"""A document's ``dlm.lock`` entry as this machine sees it: the shared targets and those of the
machine class its builds run in here (``train/machine_class.py``). Packing, pushing, pruning and
``--frozen`` all act on what this machine built, so they read the lock through here."""

from __future__ import annotations


def class_here(project) -> str:
    """The name of the machine class this document's builds run in here (``cpu-bf16-amx``)."""
    from dlmbuild.train.machine_class import document_class

    return document_class(project).name


def lock_here(project):
    """The document's lock entry viewed from this machine's class, or None."""
    from dlmbuild.engine.lockfile import read_lock

    return read_lock(project.doc.path, class_here(project))
