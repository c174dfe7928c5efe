"""dlmbuild.document.sources: which files ``training.sources`` ingests, and how they are counted."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from dlmbuild.document.parse import parse_document
from dlmbuild.document.sections import SectionType, section_id
from dlmbuild.document.sources import expand_sources, load_source_sections
from dlmbuild.errors import DocumentError

WriteDoc = Callable[..., Path]


def sources_extra(*directives: str, policy: str | None = None, adapters: str | None = None) -> str:
    out = "training:\n"
    if adapters:
        out += f"  adapters: [{adapters}]\n"
    if policy:
        out += f"  sources_policy: {policy}\n"
    out += "  sources:\n" + "".join(f"    - {d}\n" for d in directives)
    return out


def selected(path: Path) -> tuple[list[str], dict[str, int]]:
    doc = parse_document(path)
    result = expand_sources(doc)
    return [f.relpath for f in result.files], dict(result.skipped)


def loaded(path: Path):
    doc = parse_document(path)
    sections, skipped = load_source_sections(doc, expand_sources(doc))
    return sections, dict(skipped)


def test_every_text_file_is_a_prose_section_tagged_with_its_path(write_doc: WriteDoc, write_files):
    write_files({"notes/b.md": "Bee.\r\n", "notes/a.txt": "\ufeffAy.\n\n", "notes/sub/c.md": "See.\n"})
    path = write_doc(extra=sources_extra("notes"))
    sections, skipped = loaded(path)
    assert [(s.source_path, s.text) for s in sections] == [("notes/a.txt", "Ay."), ("notes/b.md", "Bee."), ("notes/sub/c.md", "See.")]
    assert skipped == {}
    for s in sections:
        assert (s.type, s.fenced, s.line, s.adapter, s.adapters) == (SectionType.PROSE, False, 0, None, ("default",))
        assert s.id == section_id(SectionType.PROSE, s.text)


def test_shorthand_string_and_single_file_directive(write_doc: WriteDoc, write_files):
    write_files({"notes/a.md": "a", "README.md": "readme"})
    path = write_doc(extra=sources_extra("notes/", "README.md"))
    assert selected(path) == (["notes/a.md", "README.md"], {})


def test_sources_route_to_every_adapter_or_the_directive_adapter(write_doc: WriteDoc, write_files):
    write_files({"facts/a.md": "a", "style/b.md": "b"})
    path = write_doc(extra=sources_extra("facts", "{path: style, adapter: tone}", adapters="knowledge, tone"))
    sections, _ = loaded(path)
    assert [(s.source_path, s.adapter, s.adapters) for s in sections] == [
        ("facts/a.md", None, ("knowledge", "tone")),
        ("style/b.md", "tone", ("tone",)),
    ]


def test_order_is_sorted_and_independent_of_creation_order(write_doc: WriteDoc, tmp_path: Path):
    for name in ["zeta.md", "Alpha.md", "mid/x.md", "beta.md", "mid.md", "a/b/c.md"]:
        target = tmp_path / "src" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(name)
    path = write_doc(extra=sources_extra("src"))
    expected = ["src/Alpha.md", "src/a/b/c.md", "src/beta.md", "src/mid/x.md", "src/mid.md", "src/zeta.md"]
    assert selected(path)[0] == expected
    assert selected(path)[0] == expected  # and again: deterministic


def test_include_and_exclude_globs(write_doc: WriteDoc, write_files):
    write_files({"src/a.py": "", "src/b.md": "", "src/deep/c.py": "", "src/deep/test_c.py": "", "src/gen/d.py": ""})
    path = write_doc(extra=sources_extra("{path: src, include: ['*.py'], exclude: ['test_*', 'gen/']}"))
    assert selected(path) == (["src/a.py", "src/deep/c.py"], {"ignored": 3})


def test_anchored_include(write_doc: WriteDoc, write_files):
    write_files({"src/a.md": "", "src/sub/a.md": ""})
    path = write_doc(extra=sources_extra("{path: src, include: ['/a.md']}"))
    assert selected(path)[0] == ["src/a.md"]


def test_dlm_ignore_has_gitignore_semantics_in_a_subfolder(write_doc: WriteDoc, write_files):
    write_files(
        {
            "proj/top.log": "kept: the ignore file below does not apply up here",
            "proj/app/.dlm/ignore": "# comment\n*.log\n!keep.log\nbuild/\n/only-here.md\n**/secret/*\n",
            "proj/app/main.py": "",
            "proj/app/debug.log": "",
            "proj/app/keep.log": "",
            "proj/app/only-here.md": "",
            "proj/app/lib/only-here.md": "",
            "proj/app/lib/trace.log": "",
            "proj/app/build/out.py": "",
            "proj/app/lib/build": "a file named build is not a folder",
            "proj/app/x/secret/key.txt": "",
            "proj/app/x/visible.txt": "",
        }
    )
    path = write_doc(extra=sources_extra("proj"))
    files, skipped = selected(path)
    assert files == [
        "proj/app/keep.log",
        "proj/app/lib/build",
        "proj/app/lib/only-here.md",
        "proj/app/main.py",
        "proj/app/x/visible.txt",
        "proj/top.log",
    ]
    # debug.log, only-here.md, lib/trace.log, build/ (one folder, not entered), x/secret/key.txt
    assert skipped == {"ignored": 5}


def test_deeper_ignore_file_overrides_a_shallower_one(write_doc: WriteDoc, write_files):
    write_files(
        {
            "src/.dlm/ignore": "*.txt\n",
            "src/a.txt": "",
            "src/inner/.dlm/ignore": "!wanted.txt\n",
            "src/inner/wanted.txt": "",
            "src/inner/other.txt": "",
        }
    )
    path = write_doc(extra=sources_extra("src"))
    assert selected(path) == (["src/inner/wanted.txt"], {"ignored": 2})


def test_an_ignored_folder_is_not_entered(write_doc: WriteDoc, write_files):
    write_files({"src/.dlm/ignore": "vendor/\n", "src/vendor/.dlm/ignore": "!*\n", "src/vendor/lib.py": "", "src/app.py": ""})
    path = write_doc(extra=sources_extra("src"))
    assert selected(path) == (["src/app.py"], {"ignored": 1})


def test_training_yaml_include_and_exclude_per_subtree(write_doc: WriteDoc, write_files):
    write_files(
        {
            "docs/.dlm/training.yaml": "include: ['*.md']\nexclude: ['drafts/']\n",
            "docs/guide.md": "",
            "docs/notes.txt": "",
            "docs/drafts/wip.md": "",
            "docs/api/.dlm/training.yaml": "include: ['*.rst', '*.md']\nexclude: ['internal-*']\n",
            "docs/api/ref.rst": "",
            "docs/api/intro.md": "",
            "docs/api/internal-x.md": "",
            "docs/api/drafts/draft.md": "",
            "code/notes.txt": "",
            "code/x.rst": "",
        }
    )
    path = write_doc(extra=sources_extra("."))
    files, skipped = selected(path)
    assert files == ["code/notes.txt", "code/x.rst", "docs/api/intro.md", "docs/api/ref.rst", "docs/guide.md"]
    # notes.txt (include), drafts/wip.md (exclude), internal-x.md (exclude), api/drafts/draft.md
    # (the parent's exclude still applies: excludes add up), plus the document itself.
    assert skipped == {"ignored": 4, "document_itself": 1}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("include: ['*.md']\nexlude: [x]\n", "2:1: unknown key 'exlude' (did you mean 'exclude'?); expected include or exclude"),
        ("include: '*.md'\n", "1:1: 'include' must be a list of glob patterns"),
        ("- a\n", "1:1: expected a mapping with 'include' and/or 'exclude'"),
        ("include: [a\n", "2:1: invalid YAML: expected ',' or ']', but got '<stream end>'"),
    ],
)
def test_training_yaml_errors_are_located_in_that_file(write_doc: WriteDoc, write_files, tmp_path: Path, content: str, expected: str):
    write_files({"docs/.dlm/training.yaml": content, "docs/a.md": ""})
    path = write_doc(extra=sources_extra("docs"))
    with pytest.raises(DocumentError) as info:
        expand_sources(parse_document(path))
    assert str(info.value) == f"{tmp_path / 'docs/.dlm/training.yaml'}:{expected}"


def test_vcs_and_dlm_folders_are_never_ingested(write_doc: WriteDoc, write_files):
    write_files({"src/.git/config": "", "src/.hg/x": "", "src/.svn/y": "", "src/.dlm/cache": "", "src/a.md": "", "src/.hidden.md": ""})
    path = write_doc(extra=sources_extra("src"))
    assert selected(path) == (["src/.hidden.md", "src/a.md"], {})


def test_the_document_never_ingests_itself(write_doc: WriteDoc, write_files):
    write_files({"a.md": "a"})
    path = write_doc("Body.\n", sources_extra("."))
    sections, skipped = loaded(path)
    assert [s.source_path for s in sections] == ["a.md"]
    assert skipped == {"document_itself": 1}


def test_binary_and_non_utf8_files_are_skipped_and_counted(write_doc: WriteDoc, write_files):
    write_files(
        {
            "data/text.md": "fine",
            "data/image.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            "data/latin1.txt": "caf\xe9".encode("latin-1"),
            "data/late-nul.txt": b"x" * 9000 + b"\x00",  # a NUL after the first 8 KiB is not sniffed,
            "data/empty.txt": b"",
            "data/hello.wav": b"RIFF\x00\x00\x00\x00WAVEfmt ",
            "data/blob.bin": b"\x00\x01",
        }
    )
    path = write_doc(extra=sources_extra("data"))
    files, skipped = selected(path)
    assert len(files) == 7 and skipped == {}  # selection does not read contents
    sections, skipped = loaded(path)
    assert [s.source_path for s in sections] == ["data/empty.txt", "data/late-nul.txt", "data/text.md"]
    # counted by why they train nothing: media get the reason that tells the author what to do
    assert skipped == {"binary_or_not_utf8": 2, "images_need_a_vision_language_base": 1,
                       "audio_clips_need_an_audio_section_with_a_transcript": 1}


def test_max_bytes_per_file(write_doc: WriteDoc, write_files):
    write_files({"s/small.md": "x" * 10, "s/exact.md": "x" * 11, "s/big.md": "x" * 12})
    path = write_doc(extra=sources_extra("{path: s, max_bytes_per_file: 11}"))
    assert selected(path) == (["s/exact.md", "s/small.md"], {"too_large": 1})


def test_max_files_counts_what_is_left_out(write_doc: WriteDoc, write_files):
    write_files({f"s/{i:02d}.md": str(i) for i in range(7)} | {"t/x.md": "x"})
    path = write_doc(extra=sources_extra("{path: s, max_files: 3}", "{path: t, max_files: 1}"))
    assert selected(path) == (["s/00.md", "s/01.md", "s/02.md", "t/x.md"], {"over_max_files": 4})


def test_symlink_out_of_the_folder_is_skipped_and_counted(write_doc: WriteDoc, write_files, tmp_path: Path):
    outside = tmp_path.parent / f"{tmp_path.name}-outside.md"
    outside.write_text("secret")
    try:
        write_files({"src/a.md": "a"})
        os.symlink(outside, tmp_path / "src" / "leak.md")
        os.symlink(tmp_path / "src" / "a.md", tmp_path / "src" / "alias.md")  # inside: fine
        os.symlink(tmp_path.parent, tmp_path / "src" / "parent")  # folder symlinks are not followed
        os.symlink(tmp_path / "missing", tmp_path / "src" / "dangling.md")
        path = write_doc(extra=sources_extra("src"))
        files, skipped = selected(path)
        assert files == ["src/a.md", "src/alias.md"]
        assert skipped == {"escapes_folder": 1, "symlinked_folder": 1, "unreadable": 1}
        # permissive: the outside file is read; folder symlinks are still not followed
        path = write_doc(extra=sources_extra("src", policy="permissive"))
        files, skipped = selected(path)
        assert files == ["src/a.md", "src/alias.md", "src/leak.md"]
        assert skipped == {"symlinked_folder": 1, "unreadable": 1}
    finally:
        outside.unlink()


@pytest.mark.parametrize(
    ("directive", "message"),
    [
        ("../elsewhere", "source path '../elsewhere' leaves the document's folder (sources_policy: strict)"),
        ("sub/../../x", "source path 'sub/../../x' leaves the document's folder (sources_policy: strict)"),
        ("/etc", "source path '/etc' is absolute (sources_policy: strict allows only paths inside the document's folder)"),
        ("~/notes", "source path '~/notes' is absolute (sources_policy: strict allows only paths inside the document's folder)"),
    ],
)
def test_strict_policy_refuses_paths_out_of_the_folder(write_doc: WriteDoc, directive: str, message: str):
    path = write_doc(extra=sources_extra(f"path: '{directive}'"))
    with pytest.raises(DocumentError) as info:
        expand_sources(parse_document(path))
    assert str(info.value) == f"{path}:6:13: {message}"


def test_directive_symlink_out_of_the_folder_is_refused(write_doc: WriteDoc, tmp_path: Path):
    (tmp_path / "out").mkdir()
    (tmp_path / "doc").mkdir()
    os.symlink(tmp_path / "out", tmp_path / "doc" / "link")
    path = write_doc(extra=sources_extra("link"), name="doc/doc.dlm")
    with pytest.raises(DocumentError) as info:
        expand_sources(parse_document(path))
    assert str(info.value) == f"{path}:6:7: source path 'link' leaves the document's folder (sources_policy: strict)"


def test_permissive_policy_reads_outside_the_folder(write_doc: WriteDoc, tmp_path: Path):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "x.md").write_text("x")
    path = write_doc(extra=sources_extra(f"'{tmp_path / 'shared'}'", "../shared", policy="permissive"), name="doc/doc.dlm")
    assert selected(path)[0] == ["../shared/x.md", "../shared/x.md"]


def test_missing_source_did_you_mean(write_doc: WriteDoc, write_files):
    write_files({"notes/a.md": ""})
    path = write_doc(extra=sources_extra("note"))
    with pytest.raises(DocumentError) as info:
        expand_sources(parse_document(path))
    assert str(info.value) == f"{path}:6:7: source path 'note' not found (did you mean 'notes'?)"


def test_source_files_record_stat_and_watch_paths(write_doc: WriteDoc, write_files, tmp_path: Path):
    write_files({"s/a.md": "12345"})
    path = write_doc(extra=sources_extra("s"))
    result = expand_sources(parse_document(path))
    (f,) = result.files
    st = (tmp_path / "s" / "a.md").stat()
    assert (f.path, f.size, f.mtime_ns, f.inode, f.device, f.adapter) == (tmp_path / "s" / "a.md", 5, st.st_mtime_ns, st.st_ino, st.st_dev, None)
    assert result.watch_paths == [tmp_path / "s"]


def test_source_path_with_a_line_break_is_reported_on_one_line(write_doc: WriteDoc):
    path = write_doc(extra=sources_extra('"no\\nsuch"'))
    with pytest.raises(DocumentError) as info:
        expand_sources(parse_document(path))
    assert str(info.value) == f"{path}:6:7: source path 'no\\nsuch' not found"


def test_special_files_are_skipped_not_read(write_doc: WriteDoc, write_files, tmp_path: Path):
    """Reading a named pipe blocks forever; ``dlm show`` used to hang on one in a source tree."""
    write_files({"s/a.md": "a"})
    os.mkfifo(tmp_path / "s" / "pipe")
    path = write_doc(extra=sources_extra("s"))
    sections, skipped = loaded(path)
    assert [s.source_path for s in sections] == ["s/a.md"]
    assert skipped == {"special_file": 1}


def test_a_file_removed_after_selection_is_counted_unreadable(write_doc: WriteDoc, write_files, tmp_path: Path):
    write_files({"s/a.md": "a", "s/b.md": "b"})
    doc = parse_document(write_doc(extra=sources_extra("s")))
    selection = expand_sources(doc)
    (tmp_path / "s" / "a.md").unlink()
    sections, skipped = load_source_sections(doc, selection)
    assert [s.source_path for s in sections] == ["s/b.md"]
    assert dict(skipped) == {"unreadable": 1}


def test_empty_training_yaml_sets_no_rules(tmp_path):
    """An empty .dlm/training.yaml is no rules, not a crash."""
    from dlmbuild.document.parse import parse_document
    from dlmbuild.document.sources import expand_sources

    (tmp_path / "n" / ".dlm").mkdir(parents=True)
    (tmp_path / "n" / ".dlm" / "training.yaml").write_text("")
    (tmp_path / "n" / "a.md").write_text("hi\n")
    doc = tmp_path / "d.dlm"
    doc.write_text("---\ndlm_id: 01JD5ZQ8V7W9X2Y3Z4A5B6C7D8\nbase_model: smollm2-135m\ntraining:\n  sources: [n]\n---\nx\n")
    assert [f.relpath for f in expand_sources(parse_document(doc)).files] == ["n/a.md"]
