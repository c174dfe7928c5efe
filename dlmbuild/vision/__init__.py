"""Vision-language bases: images in training, prompting and GGUF export (issue 18).

One concept per module, imported lazily (torch and transformers load only when used):

- ``images``: ``load_image``, Pillow with its decompression-bomb guard as an error;
- ``collate``: examples ``{"images", "prompt", "answer"}`` to model inputs through the base's
  chat template, loss on the answer only;
- ``train``: ``train_vision_lora``, deterministic on CPU (the loop and the model loading are
  ``dlmbuild.multimodal``'s, shared with audio-language bases);
- ``generate``: ``generate``, an answer about images, with or without an adapter;
- ``merge``: an adapter merged into a plain HF folder for the converter;
- ``gguf``: text GGUF + ``mmproj`` GGUF with the pinned converter;
- ``smoke``: the smoke test of that pair, llama.cpp's multimodal answer and image embeddings
  against transformers';
- ``mtmd_run``: the llama.cpp side of that test (libmtmd), run in a child process.
"""
