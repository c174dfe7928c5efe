"""Does ``dlm serve`` answer exactly as ``dlm prompt --temp 0`` for a pinned adapter?

For every adapter of a document and every question routed to it (its own Q/A questions, and the
held-out prompts of ``benchmarks/gate_docs/<name>.heldout.json`` when there is such a file), the
greedy answer of ``dlm prompt``'s path (transformers, float32 base + peft adapter) is compared
with ``dlm serve``'s (llama.cpp, F16 base GGUF + LoRA GGUF, per-request scale), token for token,
up to 48 new tokens. The serve side is ``DocService`` with its real llama.cpp worker, without
the HTTP front (which passes text through unchanged; tests/serve check that part).

    DLM_HOME=... .venv/bin/python benchmarks/serve_parity.py DOC     (the document must be trained)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MAX_NEW = 48


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("doc", type=Path)
    args = parser.parse_args()

    import torch

    from dlmbuild.cli.serve import document_spec
    from dlmbuild.document.sections import SectionType
    from dlmbuild.infer.generate import Sampling
    from dlmbuild.infer.session import ChatSession
    from dlmbuild.project import Project
    from dlmbuild.serve.engine_client import EngineClient
    from dlmbuild.serve.model_service import DocService
    from dlmbuild.serve.service import Params

    torch.set_num_threads(2)
    spec = document_spec(args.doc, None)
    project = Project.open(args.doc, materialize_base=True)
    questions: dict[str, list[str]] = {name: [] for name in spec.adapters}
    for section in project.doc.sections:
        if section.type == SectionType.INSTRUCTION:
            for name in section.adapters:
                questions[name] += [p.question for p in section.pairs]
    heldout = ROOT / "benchmarks" / "gate_docs" / f"{args.doc.stem}.heldout.json"
    if heldout.is_file():
        for name, items in json.loads(heldout.read_text(encoding="utf-8")).items():
            questions[name] += items
    engine = EngineClient(spec.base_gguf, spec.loras, n_ctx=spec.n_ctx, n_threads=2, features=None)
    service = DocService(spec, engine)
    session = ChatSession.open(project, spec.adapters[0])
    greedy = Sampling(max_new_tokens=MAX_NEW, temperature=0.0, top_p=1.0, seed=0)
    total = same = 0
    try:
        for name, items in questions.items():
            session.use({name: 1.0})
            for question in items:
                prompted = session.ask(question, greedy)
                completion = service.chat(f"{spec.name}:{name}", [{"role": "user", "content": question}],
                                          Params(max_tokens=MAX_NEW, temperature=0.0))
                served = "".join(completion.pieces)
                total += 1
                same += served == prompted
                if served != prompted:
                    a, b = session.tokenizer.encode(prompted), session.tokenizer.encode(served)
                    agree = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
                    print(f"  differs after {agree} tokens [{name}] {question!r}\n    prompt: {prompted[:90]!r}\n    serve:  {served[:90]!r}")
            print(f"{name}: {len(items)} questions")
    finally:
        engine.close()
    print(f"{args.doc.name}: dlm serve == dlm prompt --temp 0 on {same}/{total} answers ({MAX_NEW} new tokens at most)")


if __name__ == "__main__":
    main()
