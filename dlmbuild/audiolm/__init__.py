"""Audio-language bases (Qwen2-Audio class): clips in training and prompting (issue 18).

An audio-language model reads clips and text and answers in text; a speech model
(``dlmbuild.speech``, Whisper) only transcribes. One concept per module, imported lazily:

- ``collate``: examples ``{"clips", "prompt", "answer"}`` to model inputs through the base's
  chat template and feature extractor, loss on the answer only;
- ``train``: ``train_audio_lm_lora``, deterministic on CPU (the loop is
  ``dlmbuild.multimodal.lora_loop``'s, shared with vision);
- ``generate``: ``generate``, an answer about clips, with or without an adapter.
"""
