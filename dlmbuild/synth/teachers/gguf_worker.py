"""The child side of ``GgufTeacher``: load a GGUF with llama.cpp once, answer a batch of chat
turns, return the replies as a JSON list of strings.

Runs only inside ``dlmbuild.export.native``'s child process (``run_isolated``), never in dlm's
own: a native crash here must not take the caller down. Each request starts from an empty
context (``reset``), so a reply depends on its own prompt and the sampling only, never on what
came before it in the batch.
"""

from __future__ import annotations


def complete_batch(model_path: str, requests: list[list[str]], max_tokens: int, temperature: float,
                   top_p: float, seed: int, n_ctx: int, n_threads: int | None = None) -> list[str]:
    import llama_cpp

    options = {"n_threads": n_threads} if n_threads else {}
    llm = llama_cpp.Llama(model_path=model_path, n_ctx=n_ctx, seed=seed, verbose=False, **options)
    try:
        replies = []
        for system, user in requests:
            llm.reset()
            messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
            # the GGUF's own chat template (tokenizer.chat_template) renders the turn
            out = llm.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=temperature,
                                             top_p=top_p, seed=seed)
            replies.append(out["choices"][0]["message"].get("content") or "")
        return replies
    finally:
        llm.close()
