"""One decoding step with a KV cache, in whichever spelling the installed transformers takes.

transformers 5 renamed the forward argument and output field ``past_key_values`` to ``cache``.
The old name still works but raises a FutureWarning on every call, which ``dlm prompt`` would
print between the question and the answer. Rather than silence it, the name is read from the
model's own ``forward`` signature, so the same loop runs warning-free on either version and the
cache stays the library's own ``Cache`` object (a DynamicCache the first step creates).
"""

from __future__ import annotations

import functools
import inspect


@functools.cache
def _cache_name(model_class: type) -> str:
    parameters = inspect.signature(model_class.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def cache_argument(model) -> str:
    """``cache`` or ``past_key_values``: what this model's forward calls its KV cache. A PEFT
    wrapper forwards keyword arguments untouched, so the wrapped model's signature decides."""
    get_base = getattr(model, "get_base_model", None)
    inner = get_base() if callable(get_base) else model
    return _cache_name(type(inner))


def decode_step(model, input_ids, cache=None):
    """Run ``input_ids`` through ``model`` after ``cache`` (None on the first step); return the
    logits and the grown cache to pass to the next step."""
    name = cache_argument(model)
    result = model(input_ids=input_ids, use_cache=True, **{name: cache})
    return result.logits, getattr(result, name)
