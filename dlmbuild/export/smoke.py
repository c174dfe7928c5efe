"""The smoke test every GGUF gets: llama.cpp loads it and answers a trained question.

For F16 the check is exact: the first ``TOKENS`` greedy tokens from llama.cpp must equal those
of transformers on the merged model with its matrices rounded through float16 (what the F16 file
stores; norms stay float32 in both), so a wrong template, tokenizer or tensor layout fails here
rather than in a user's chat. Quantized files change the answer by design; for them the check
is that the text is non-empty. Prompt token ids are compared too: llama.cpp must tokenize the
rendered prompt exactly as training did.

llama.cpp runs in a child process (``dlmbuild.export.native``): a native crash there becomes one
line, never a dead build.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from dlmbuild.errors import EnvironmentProblem

TOKENS = 16


@dataclass
class SmokeResult:
    file: str
    question: str
    text: str
    tokens: list[int]
    exact: bool  # compared token by token against transformers
    reference: list[int] = field(default_factory=list)
    prompt_tokens_match: bool = True
    tokens_per_s: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        how = "matches transformers token for token" if self.exact else "non-empty"
        return f"smoke {self.file}: {how}; {self.question!r} -> {self.text.strip()[:80]!r}"


def llama_greedy(gguf: Path, prompt_ids: list[int], n: int = TOKENS, lora: Path | None = None,
                 threads: int = 1) -> tuple[list[int], str, float]:
    """Greedy tokens from llama.cpp for already-tokenized ``prompt_ids`` (stops at end-of-generation)."""
    import time

    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(gguf), lora_path=str(lora) if lora else None, n_ctx=max(256, len(prompt_ids) + n + 8),
                          n_threads=threads, n_batch=512, seed=0, verbose=False)
    try:
        out: list[int] = []
        start = time.perf_counter()
        for token in llm.generate(prompt_ids, temp=0.0, top_k=1, top_p=1.0, repeat_penalty=1.0):
            if llama_cpp.llama_token_is_eog(llm._model.vocab, token):
                break
            out.append(token)
            if len(out) >= n:
                break
        seconds = time.perf_counter() - start
        text = llm.detokenize(out).decode("utf-8", errors="replace")
        return out, text, (len(out) / seconds if seconds > 0 else 0.0)
    finally:
        llm.close()


def llama_tokenize(gguf: Path, text: str) -> list[int]:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(gguf), vocab_only=True, verbose=False)
    try:
        return llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
    finally:
        llm.close()


def reference_greedy(model_dir: Path, prompt_ids: list[int], eos_ids: set[int], n: int = TOKENS) -> list[int]:
    """transformers' greedy tokens on the HF folder with 2-D weights rounded through float16."""
    import torch
    from transformers import AutoModelForCausalLM

    from dlmbuild.infer.kv_cache import decode_step
    from dlmbuild.train.base_model import quiet_transformers

    quiet_transformers()
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    model.eval()
    with torch.no_grad():
        for param in model.parameters():
            if param.ndim >= 2:
                param.copy_(param.half().float())
        ids = torch.tensor([prompt_ids])
        out: list[int] = []
        past = None
        step_input = ids
        for _ in range(n):
            logits, past = decode_step(model, step_input, past)
            token = int(logits[0, -1].argmax())
            if token in eos_ids:
                break
            out.append(token)
            step_input = torch.tensor([[token]])
    return out


def llama_smoke(gguf: str, prompt_text: str, prompt_ids: list[int], n: int = TOKENS, lora: str | None = None) -> dict:
    """The llama.cpp half of the smoke test, run in a child process (see ``dlmbuild.export.native``):
    how llama.cpp tokenizes the prompt, and its greedy answer."""
    llama_ids = llama_tokenize(Path(gguf), prompt_text)
    tokens, text, rate = llama_greedy(Path(gguf), prompt_ids, n=n, lora=Path(lora) if lora else None)
    return {"prompt_ids": llama_ids, "tokens": tokens, "text": text, "rate": rate}


def smoke_gguf(gguf: Path, question: str, prompt_text: str, prompt_ids: list[int], *, reference: list[int] | None,
               lora: Path | None = None, consequence: str = "", cancel=None) -> SmokeResult:
    """Run the smoke test; raises ``EnvironmentProblem`` when it fails and ``NativeCrash`` when
    llama.cpp dies (``consequence`` says what the caller keeps, for that one line)."""
    from dlmbuild.export.native import run_isolated

    what = f"smoke-testing {gguf.name}" + (f" with {lora.name}" if lora else "")
    found = run_isolated("dlmbuild.export.smoke:llama_smoke",
                         {"gguf": str(gguf), "prompt_text": prompt_text, "prompt_ids": list(prompt_ids),
                          "lora": str(lora) if lora else None},
                         doing=what, consequence=consequence, cancel=cancel)
    tokens, text = found["tokens"], found["text"]
    result = SmokeResult(file=gguf.name, question=question, text=text, tokens=tokens, exact=reference is not None,
                         reference=reference or [], prompt_tokens_match=found["prompt_ids"] == list(prompt_ids),
                         tokens_per_s=round(found["rate"], 1))
    if not result.prompt_tokens_match:
        raise EnvironmentProblem(f"smoke test: llama.cpp tokenizes the prompt differently from training in {gguf.name}")
    if reference is not None and tokens != reference:
        diverge = next((i for i, (a, b) in enumerate(zip(tokens, reference)) if a != b), min(len(tokens), len(reference)))
        raise EnvironmentProblem(f"smoke test: {gguf.name} diverges from transformers at generated token {diverge}; "
                                 f"llama.cpp said {text!r}")
    if not text.strip():
        raise EnvironmentProblem(f"smoke test: {gguf.name} generated no text for {question!r}")
    return result
