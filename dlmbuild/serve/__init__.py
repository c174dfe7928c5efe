"""``dlm serve``: the document's current model behind an OpenAI-compatible HTTP API.

- ``spec``: what is served (base GGUF, each adapter's LoRA GGUF, the gate, the tokenizer and the
  document's prompt settings), from build outputs or from an exported bundle;
- ``worker``: the llama.cpp child: the base loaded once, every LoRA attached, per-request
  scales; it also embeds prompts for the gate;
- ``engine_client``: the parent's handle on the worker, one request at a time;
- ``model_service``: model names to adapter weights (pinned or routed), chat rendering and
  tokenising exactly as training did, streamed detokenising;
- ``http``: the HTTP front (stdlib), which knows OpenAI's wire format and nothing else;
- ``service``: the interface between the last two.
"""
