"""Speech bases (Whisper): reading clips, transcribing them, and LoRA domain adaptation on
(clip, transcript) pairs, so a base learns to write a document's names and terms.

- ``audio``: clip headers and samples (soundfile, resampled with soxr);
- ``model``: loading a Whisper folder with its feature extractor, tokenizer and decoding settings;
- ``transcribe``: greedy, deterministic decoding (the loop the conversion is checked against);
- ``train``: ``train_speech_lora``, the decoder's LoRA adapter from clips and transcripts;
- ``wer``: word error rate, for tests and ``benchmarks/speech_wer.py``.

Imports of this package are light; torch and transformers come in when a model is loaded.
"""
