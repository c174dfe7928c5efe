"""The table of export kinds is the one list: the rules build one target per row, and
``dlm export`` offers exactly the table's names."""

from __future__ import annotations

from dlmbuild.export import kinds


def test_every_bundle_kind_has_exactly_one_build_action():
    from dlmbuild.rules import bundles

    assert list(bundles.ACTIONS) == list(kinds.BUNDLE_KINDS) == ["ollama", "llama-server", "vllm", "mlx-serve", "hf"]


def test_dlm_export_offers_the_table():
    from dlmbuild.cli import export

    assert export.TARGETS == kinds.EXPORT_TARGETS == kinds.BUNDLE_KINDS + ("gguf", "gguf-lora")


def test_build_targets_and_bundles():
    assert [kinds.build_target(k) for k in ("vllm", "mlx-serve", "gguf", "gguf-lora")] == [
        ":export-vllm", ":export-mlx-serve", ":gguf", ":gguf-lora"]
    assert kinds.is_bundle("hf") and not kinds.is_bundle("gguf") and not kinds.is_bundle("nope")
