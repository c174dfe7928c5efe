"""Bounded fuzzing: mutated documents either parse or fail with a DlmError, never a crash.

Mutations are byte-level (deletions, insertions of structural characters, NUL and 0xff, line
duplication, truncation) applied with a fixed seed, so a failure reproduces exactly.
"""

from __future__ import annotations

import random

from dlmbuild.document.edit import DocumentEditor
from dlmbuild.document.parse import parse_bytes
from dlmbuild.errors import DlmError
from tests.helpers import DLM_ID

TUTOR = f"""---
# A tutor document: prose teaches facts, Q/A pairs teach answering.
dlm_id: {DLM_ID}
dlm_version: 2
base_model: smollm2-135m
system_prompt: "You are a tutor for Kelvarro. Answer in one short sentence."
training:
  seed: 7
  sequence_len: 256
  lora_r: 8
  target_modules: [q_proj, v_proj]
  sources:
    - path: notes
      exclude: ['*.log']
export:
  default_quant: Q4_K_M
  targets: [ollama]
---
# Kelvarro

Kelvarro is a two-player strategy board game invented in 1958 by Ilsa Drummond.

```python
::instruction::
### Q
not a question: this is code
```

::instruction::
### Q
Who invented Kelvarro?

### A
Ilsa Drummond, a lighthouse keeper.

### Q
In what year?

### A
1958.
"""

MULTI = f"""---
dlm_id: {DLM_ID}
dlm_version: 2
base_model: smollm2-135m
training:
  adapters:
    knowledge: {{}}        # inherits everything
    tone:
      lora_r: 4
  preference:
    enabled: false
    method: dpo
---
Shared prose trains both adapters.

::prose#tone::
Warm, brief, plain.

::instruction#tone::
### Q
Can you tell me about the Copper Bell?

### A
Of course! It rings every evening at dusk.

::preference#tone::
### Prompt
What is the Copper Bell?

### Chosen
The ship's bell on the harbour wall.

### Rejected
A very famous and extremely important historical artefact.

::instruction#knowledge::
<!-- auto-synth teacher="smollm2-135m" run="01M7YVFPZ5CCB0JKQRN8YNGH2T" -->
### Q
Where is the Copper Bell?

### A
On the harbour wall.
"""

V1 = f"""---
dlm_id: {DLM_ID}
dlm_version: 1
base_model: smollm2-135m
training:
  adapter_type: qlora
export:
  quant: Q8_0
---
Old document.
"""

SEEDS = [TUTOR.encode(), MULTI.encode(), MULTI.replace("\n", "\r\n").encode(), b"\xef\xbb\xbf" + V1.encode()]
INSERTIONS = [b":", b"#", b"\n", b"\x00", b"\xff", b"::", b"---\n", b"```\n", b"### Q\n", b"### A\n", b'"', b"'", b"\r", b"\t", b" ", b"-", b"[", b"{", b"&a ", b"*a", b"!!str ", b"<!-- auto-x -->\n", b"::prose#", b"\xe2\x82"]


def mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(5)
        if op == 0 and out:  # delete a short run
            at = rng.randrange(len(out))
            del out[at : at + rng.randint(1, 6)]
        elif op == 1:  # insert a structural or hostile byte sequence
            at = rng.randrange(len(out) + 1)
            out[at:at] = rng.choice(INSERTIONS)
        elif op == 2:  # duplicate a line
            lines = bytes(out).split(b"\n")
            at = rng.randrange(len(lines))
            lines.insert(at, lines[at])
            out = bytearray(b"\n".join(lines))
        elif op == 3:  # truncate
            out = out[: rng.randrange(len(out) + 1)]
        else:  # swap two lines
            lines = bytes(out).split(b"\n")
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            out = bytearray(b"\n".join(lines))
    return bytes(out)


def test_seeds_parse():
    for data in SEEDS:
        parse_bytes("doc.dlm", data)


def test_mutated_documents_parse_or_raise_dlm_error():
    rng = random.Random(20240601)
    outcomes = {"parsed": 0, "refused": 0}
    for index in range(400):
        data = mutate(rng, SEEDS[index % len(SEEDS)])
        try:
            doc = parse_bytes("doc.dlm", data)
        except DlmError as exc:
            outcomes["refused"] += 1
            message = str(exc)
            assert message.startswith("doc.dlm:"), (data, message)
            assert "\n" not in message, (data, message)
            assert exc.exit_code == 2, (data, message)
        except Exception as exc:  # noqa: BLE001 - the point of the test
            raise AssertionError(f"mutation {index} crashed with {type(exc).__name__}: {exc}\n{data!r}") from exc
        else:
            outcomes["parsed"] += 1
            assert DocumentEditor(doc).render() == doc.text  # lossless even for odd input
    # both outcomes must actually be exercised for the test to mean anything
    assert outcomes["parsed"] > 30 and outcomes["refused"] > 100, outcomes
