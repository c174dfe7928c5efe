"""``dlm prompt --image`` / ``--audio``: which inputs a base takes, checked before any model
loads, and the answer from a vision-language, speech or audio-language base.

- ``--image`` needs a vision-language base, and a vision-language base needs ``--image``;
- ``--audio`` needs a speech (Whisper) or audio-language base; on a speech base the answer is
  the clip's transcript, so no question is needed;
- each file must exist and open (Pillow, soundfile), or the command stops with one line.
"""

from __future__ import annotations

from pathlib import Path

from dlmbuild.errors import UsageError

READS = {"text": "reads text only", "vision": "reads images and text, not audio",
         "speech": "transcribes speech, it reads no images", "audio": "reads audio and text, not images"}


def check_media_options(project, images: list[Path], clips: list[Path], text: str | None) -> str:
    """The base's modality, after refusing flags it cannot take (exit 2)."""
    from dlmbuild.bases.modality import AUDIO, SPEECH, VISION, modality_of, suggestion
    from dlmbuild.document.media_files import clip_problem, image_problem

    base = project.doc.config.base_model
    modality = modality_of(base, Path(project.doc.directory))
    reads = READS.get(modality, READS["text"])
    if images and modality != VISION:
        raise UsageError(f"--image needs a vision-language base; {base} {reads}" + _switch(suggestion(VISION)))
    if clips and modality not in (SPEECH, AUDIO):
        raise UsageError(f"--audio needs a speech or audio-language base; {base} {reads}" + _switch(suggestion(SPEECH)))
    if modality == VISION and not images:
        raise UsageError(f"{base} is a vision-language base: pass the image(s) to ask about with --image PATH")
    if modality in (SPEECH, AUDIO) and not clips:
        raise UsageError(f"{base} is {'a speech' if modality == SPEECH else 'an audio-language'} base: pass the clip with --audio PATH")
    if modality == SPEECH and len(clips) > 1:
        raise UsageError("a speech base transcribes one clip at a time: pass --audio once")
    if modality == AUDIO and not text:
        raise UsageError("ask a question about the clip")
    if modality not in (SPEECH,) and not text:
        raise UsageError("give the question or instruction (or '-' to read it from stdin)")
    for flag, files, problem in (("--image", images, image_problem), ("--audio", clips, clip_problem)):
        for path in files:
            if not path.is_file():
                raise UsageError(f"{flag} {path}: no such file")
            why = problem(path)
            if why is not None:
                raise UsageError(f"{flag} {path}: {why}")
    return modality


def _switch(options: str) -> str:
    return f" (a document whose base_model is one of {options} does)" if options else ""


def answer_with_media(project, modality: str, adapter: str, images: list[Path], clips: list[Path], question: str | None,
                      max_new_tokens: int, temperature: float) -> str:
    """The answer of ``adapter``'s current version on the base, given the media."""
    from dlmbuild.infer.session import current_version

    version = current_version(project, adapter)
    base = project.base()
    if modality == "vision":
        from dlmbuild.vision.generate import generate

        return generate(base.path, images, question, adapter_dir=version.path, max_new_tokens=max_new_tokens,
                        temperature=temperature)
    if modality == "speech":
        from dlmbuild.speech.transcribe import transcribe

        return transcribe(base.path, clips[0], adapter_dir=version.path, max_new_tokens=max_new_tokens)
    from dlmbuild.audiolm.generate import generate as answer_about_clips

    return answer_about_clips(base.path, clips, question, adapter_dir=version.path, max_new_tokens=max_new_tokens,
                              temperature=temperature)
