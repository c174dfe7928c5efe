"""The learned gate: a router from a prompt to a weight per adapter.

A multi-adapter document splits what it teaches into lanes (facts, tone, a codebase). The gate
learns which lane a prompt belongs to from the document itself: every routed row (questions,
preference prompts, prose passages) is labelled by the adapters it trains, embedded by the frozen
base, and a small MLP learns the labels. At prompt and serve time the prompt is embedded the
same way and the MLP's softmax, shaped by ``training.gate`` (temperature, top-k, fallback),
becomes the weight of each adapter's delta.

- ``rows``: the labelled texts, from the document;
- ``feature_model``: the base GGUF cut after its first blocks (cheap to run on every prompt);
- ``embed``: llama.cpp mean-pooled embeddings of that model (isolated child, or in-process in
  the serve worker that already runs llama.cpp);
- ``fit``: the MLP, trained deterministically with torch;
- ``router``: the trained gate loaded with numpy (no torch), and the weights it gives.

Features come from llama.cpp, not transformers, so ``dlm serve`` and an exported bundle route
without torch; ``dlm prompt`` embeds through the same code, so all three route alike.
"""
