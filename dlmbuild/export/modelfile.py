"""The Ollama Modelfile for a merged GGUF: prompt template, stop tokens, sampling and system prompt.

Why dlm writes its own TEMPLATE instead of letting Ollama pick one: Ollama renders prompts with
Go's ``text/template`` and, for an imported GGUF, only guesses a template from the embedded Jinja
text by edit distance, which can land on a near miss. A model fine-tuned on one exact prompt
format must see that format, so each family below carries a Go template written to produce, byte
for byte, what the base's Hugging Face chat template produces for system, user and assistant
turns. The tests check this with a small Go-template evaluator against jinja2 renderings.

What the templates rely on in Ollama (``server/routes.go``, ``template/template.go``):

- The Modelfile's ``SYSTEM`` is prepended as a system message when a request does not start with
  one. All system messages are then joined by blank lines into ``.System`` and also stay in
  ``.Messages``. The templates print ``.System`` once, at the top, and skip system messages in the
  loop, as Ollama's own library templates (qwen2.5, llama3.2) do.
- A conversation that ends with an assistant message is a prefill that Ollama continues, so that
  turn is left open. Otherwise the template ends with the generation prompt. This is the ``$last``
  pattern of the library templates.
- llama3 leaves ``<|begin_of_text|>`` to the runtime. llama.cpp and Ollama add BOS when they
  tokenize (the GGUF's ``add_bos_token``), and Ollama's llama3 templates leave it out too, so
  writing it here would double it.

Known limits, none reachable from dlm's conversations (one leading system message, then
alternating user/assistant turns): Llama 3's ``| trim`` of message content has no Go equivalent,
so content with leading or trailing whitespace differs. Ollama merges consecutive same-role
messages and moves every system message to the top. Tool messages are dropped. Qwen3's splitting
of ``<think>`` out of assistant content is not reproduced.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

Render = Callable[[list[dict[str, str]], bool], str]
"""``render(messages, add_generation_prompt)``: the base's chat template applied by dlm's renderer."""


@dataclass(frozen=True)
class Family:
    """A chat template family: how its turns are written, in Ollama's Go template and in text."""

    name: str
    models: str
    template: str  # Ollama Go template; see the module docstring for the conventions it follows
    stops: tuple[str, ...]
    system_open: str  # how a system turn starts and ends in the rendered prompt
    system_close: str


_CHATML = """\
{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
{{ .Content }}{{ if not $last }}<|im_end|>
{{ end }}
{{- end }}
{{- if and $last (ne .Role "assistant") }}<|im_start|>assistant
{{ end }}
{{- end }}"""

# Qwen3's template renders the generation prompt for non-thinking mode (enable_thinking=False)
# as an empty think block, and writes the same block before a final assistant turn. dlm trains
# without thinking, so that is the only mode written here.
_QWEN3 = """\
{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
{{ if $last }}<think>

</think>

{{ end }}{{ .Content }}{{ if not $last }}<|im_end|>
{{ end }}
{{- end }}
{{- if and $last (ne .Role "assistant") }}<|im_start|>assistant
<think>

</think>

{{ end }}
{{- end }}"""

_LLAMA3 = """\
{{- if .System }}<|start_header_id|>system<|end_header_id|>

{{ .System }}<|eot_id|>
{{- end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq .Role "user" }}<|start_header_id|>user<|end_header_id|>

{{ .Content }}<|eot_id|>
{{- else if eq .Role "assistant" }}<|start_header_id|>assistant<|end_header_id|>

{{ .Content }}{{ if not $last }}<|eot_id|>{{ end }}
{{- end }}
{{- if and $last (ne .Role "assistant") }}<|start_header_id|>assistant<|end_header_id|>

{{ end }}
{{- end }}"""

_CHATML_STOPS = ("<|im_end|>", "<|im_start|>")

# SmolVLM (Idefics3) writes "<|im_start|>" once, then "Role: text<end_of_utterance>\n" per turn
# ("Role:" without the space when the turn opens with an image) and "Assistant:" to generate.
_SMOLVLM = """\
<|im_start|>
{{- if .System }}System: {{ .System }}<end_of_utterance>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq .Role "user" }}User: {{ .Content }}<end_of_utterance>
{{ else if eq .Role "assistant" }}Assistant: {{ .Content }}{{ if not $last }}<end_of_utterance>
{{ end }}
{{- end }}
{{- if and $last (ne .Role "assistant") }}Assistant:
{{- end }}
{{- end }}"""

FAMILIES: Mapping[str, Family] = MappingProxyType(
    {
        "chatml": Family("chatml", "SmolLM2, Qwen2.5", _CHATML, _CHATML_STOPS, "<|im_start|>system\n", "<|im_end|>"),
        "llama3": Family(
            "llama3",
            "Llama 3.x",
            _LLAMA3,
            ("<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"),
            "<|start_header_id|>system<|end_header_id|>\n\n",
            "<|eot_id|>",
        ),
        "qwen3": Family("qwen3", "Qwen3", _QWEN3, _CHATML_STOPS, "<|im_start|>system\n", "<|im_end|>"),
        "smolvlm": Family("smolvlm", "SmolVLM", _SMOLVLM, ("<end_of_utterance>",), "System: ", "<end_of_utterance>"),
    }
)
"""The chat template families dlm knows, by the name the base registry uses."""


def detect_family(chat_template: str | None) -> str | None:
    """The family of a Jinja chat template, from the special tokens it writes; None if unknown."""
    if not chat_template:
        return None
    if "<|start_header_id|>" in chat_template:
        return "llama3"
    if "<end_of_utterance>" in chat_template:
        return "smolvlm"
    if "<|im_start|>" in chat_template:
        # Qwen3 is ChatML plus thinking tags; Qwen2.5 and SmolLM2 never mention <think>.
        return "qwen3" if "<think>" in chat_template else "chatml"
    return None


_PROBE = "dlm-system-turn-probe"


def implicit_system(chat_template: str, render: Render) -> str | None:
    """The system prompt ``chat_template`` injects when a conversation has none, or None.

    SmolLM2 and Qwen2.5 were trained with a default system turn, and the model was fine-tuned with
    it in every prompt that had no system message. In Ollama that turn must come from SYSTEM, since
    the Go template prints only what it is given.
    """
    return system_turn(chat_template, render, None)


def system_turn(chat_template: str, render: Render, system: str | None) -> str | None:
    """The text of the system turn ``chat_template`` writes for ``system``, or None if it writes none.

    This is what SYSTEM must hold for Ollama to reproduce the prompt dlm trained on. It is the
    system prompt itself for ChatML, but Llama 3.2's template trims it and puts a date preamble in
    front of it. ``system`` None gives the template's implicit system prompt. The text is read off
    a real rendering of a conversation with one user message, not copied from the template source,
    so whatever the template computes (a date, a default) comes out as the model saw it.
    """
    family = detect_family(chat_template)
    if family is None:
        raise ValueError(f"cannot read the system turn of a chat template dlm does not recognise (known families: {', '.join(FAMILIES)})")
    spec = FAMILIES[family]
    messages = [{"role": "user", "content": _PROBE}]
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    rendered = render(messages, False)
    at = rendered.find(_PROBE)
    if at < 0:
        raise ValueError("the chat template did not write the user message into the prompt")
    head = rendered[:at]
    start = head.find(spec.system_open)
    if start < 0:
        return None
    start += len(spec.system_open)
    end = head.find(spec.system_close, start)
    if end < 0:
        raise ValueError(f"the chat template opens a {family} system turn before the user message but never closes it")
    return head[start:end]


def stop_tokens(family: str) -> list[str]:
    """The tokens that end an assistant turn in ``family``, for ``PARAMETER stop``."""
    return list(_family(family).stops)


def render_vision_modelfile(gguf_name: str, mmproj_name: str, family: str, *, temperature: float, top_p: float,
                            num_ctx: int) -> str:
    """The Modelfile of a vision GGUF pair: ``FROM`` the text model, then ``FROM`` its projector
    (how Ollama imports a model with an ``mmproj`` file), the family's template and stops, no
    SYSTEM (vision adapters train without a system turn)."""
    _check_gguf_name(mmproj_name)
    text = render_modelfile(gguf_name, family, system=None, temperature=temperature, top_p=top_p, num_ctx=num_ctx)
    head = f"FROM ./{gguf_name}\n"
    return text.replace(head, head + f"FROM ./{mmproj_name}\n", 1)


def render_modelfile(gguf_name: str, family: str, *, system: str | None, temperature: float, top_p: float, num_ctx: int) -> str:
    """The Modelfile text for ``./<gguf_name>`` next to it, in ``family``'s prompt format.

    ``system`` becomes SYSTEM, which Ollama uses when a request has no system message. Pass
    ``system_turn(template, render, document_system_prompt)`` so that it holds what the base's
    template writes in its system turn: the prompt itself for ChatML, plus a preamble for Llama
    3.2, and the implicit default when the document has none. None or "" writes no SYSTEM, which
    Ollama treats the same way. Same arguments, same bytes. Write the result as UTF-8 without
    newline translation: a CR written into the template would reach the prompt.
    """
    spec = _family(family)
    _check_gguf_name(gguf_name)
    lines = [
        f"# Ollama Modelfile written by dlm: {family} chat template ({spec.models})",
        f"FROM ./{gguf_name}",
        "",
        f"TEMPLATE {_triple_quoted(spec.template, 'the chat template')}",
        "",
        *(f'PARAMETER stop "{stop}"' for stop in spec.stops),
        f"PARAMETER temperature {_float(temperature, 'temperature', 0.0, math.inf)}",
        f"PARAMETER top_p {_float(top_p, 'top_p', 0.0, 1.0)}",
        f"PARAMETER num_ctx {_positive_int(num_ctx, 'num_ctx')}",
    ]
    if system:
        lines += ["", f"SYSTEM {_triple_quoted(system, 'the system prompt')}"]
    return "\n".join(lines) + "\n"


def _family(name: str) -> Family:
    spec = FAMILIES.get(name)
    if spec is None:
        raise ValueError(f"unknown chat template family {name!r}; dlm knows {', '.join(FAMILIES)}")
    return spec


# Ollama's Modelfile parser (parser/parser.go) has no escape sequences. A """ block is kept verbatim
# up to the first line end where the text so far, with trailing spaces and tabs dropped, ends in
# """. The parser also silently drops every rune Go's strconv.IsPrint rejects, except the tab,
# newline and carriage return it handles itself. Escaping backslashes or quotes would therefore
# reach the model as extra backslashes, so text is written as it is, and refused only when the
# parser would cut it short or drop part of it.
_EARLY_CLOSE = re.compile(r'"""[ \t]*[\r\n]')


def _triple_quoted(text: str, what: str) -> str:
    for offset, char in enumerate(text):
        if char not in "\t\n\r" and not _go_printable(char):
            name = unicodedata.name(char, "unnamed")
            raise ValueError(
                f"{what} contains U+{ord(char):04X} ({name}) at offset {offset}: Ollama's Modelfile parser drops "
                "that character, so the model would not see the text as written; remove or replace it"
            )
    match = _EARLY_CLOSE.search(text)
    if match is not None:
        raise ValueError(
            f'{what} has """ at the end of a line (offset {match.start()}): a Modelfile """ block ends at the first '
            'line ending in """ and has no escape for it, so this text cannot be written; add a character after '
            "those quotes on that line or change them"
        )
    return f'"""{text}"""'


def _go_printable(char: str) -> bool:
    """Go's ``strconv.IsPrint``: letters, marks, numbers, punctuation, symbols and the ASCII space."""
    return char == " " or unicodedata.category(char)[0] in "LMNPS"


def _check_gguf_name(name: str) -> None:
    # FROM takes the rest of its line with surrounding blanks dropped, and resolves it against the
    # Modelfile's folder, so a plain file name on one line is all that survives unchanged.
    if not name or name in (".", "..") or "/" in name or "\\" in name or name != name.strip() or not all(map(_go_printable, name)):
        raise ValueError(f"GGUF name {name!r} must be a plain file name next to the Modelfile (no path, no surrounding or odd whitespace)")


def _float(value: float, name: str, low: float, high: float) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{name} must be a finite number in [{low}, {high}], got {value!r}")
    return repr(float(value))


def _positive_int(value: int, name: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return str(value)
