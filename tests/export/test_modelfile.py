"""The Ollama Modelfile: its Go TEMPLATE must render what the base's HF chat template renders.

Ollama is not available here, so the test carries small Python ports of the two pieces of Ollama
that touch the Modelfile:

- ``parse_modelfile``: a port of ``ParseFile`` in ollama/ollama ``parser/parser.go``. It is checked
  against cases taken from Ollama's own ``parser_test.go``.
- ``go_execute``: an evaluator for the subset of Go's ``text/template`` the templates use (trim
  markers, if/else if/else, range with variables, :=, eq/ne/and/not/len/slice). It is checked
  against outputs from Ollama's ``template/testdata``. ``ollama_render`` wraps it with what Ollama's
  server does before executing a template: it prepends the Modelfile's SYSTEM when a request has no
  system message, and collates messages into ``.System`` and ``.Messages``.

A prompt is then taken all the way from ``render_modelfile``'s text through the parser, the server
step and the template, and compared with jinja2 renderings (dlm's own renderer) of copies of the
families' HF chat templates.
"""

from __future__ import annotations

import json
import re
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlmbuild.export.modelfile import (
    FAMILIES,
    detect_family,
    implicit_system,
    render_modelfile,
    stop_tokens,
    system_turn,
)
from dlmbuild.train.tokenizer import compile_template

# --- the families' Hugging Face chat templates -----------------------------------------------------
# Copies of the bases' templates (tokenizer_config.json ``chat_template``), cut down to what matters
# for system, user and assistant messages: tool branches are left out.

# HuggingFaceTB/SmolLM2-135M-Instruct, verbatim.
SMOLLM2_TEMPLATE = (
    r"{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    r"{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    r"{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    r"{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Qwen/Qwen2.5-*-Instruct, the branch taken without tools.
QWEN25_TEMPLATE = r"""
{%- if messages[0]['role'] == 'system' %}
    {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
{%- else %}
    {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
"""

# meta-llama/Llama-3.2-*-Instruct, simplified: no tools, and no "Cutting Knowledge Date" preamble,
# so a system turn is written only for a system message (as in Llama 3 / 3.0).
LLAMA32_TEMPLATE = r"""
{{- bos_token }}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{%- if system_message %}
    {{- "<|start_header_id|>system<|end_header_id|>\n\n" + system_message + "<|eot_id|>" }}
{%- endif %}
{%- for message in messages %}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
"""

# The real Llama 3.2 system turn, with its date preamble, for implicit_system only.
LLAMA32_DATED_TEMPLATE = r"""
{{- bos_token }}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
{%- endif %}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{{- system_message }}
{{- "<|eot_id|>" }}
{%- for message in messages %}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
"""

# Qwen/Qwen3-*, the branch taken without tools; rendered with enable_thinking=False below.
QWEN3_TEMPLATE = r"""
{%- if messages[0].role == 'system' %}
    {{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}
{%- endif %}
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" and message.content is string and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if message.content is string %}
        {%- set content = message.content %}
    {%- else %}
        {%- set content = '' %}
    {%- endif %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\n' + content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {%- set reasoning_content = '' %}
        {%- if message.reasoning_content is string %}
            {%- set reasoning_content = message.reasoning_content %}
        {%- else %}
            {%- if '</think>' in content %}
                {%- set reasoning_content = content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') %}
                {%- set content = content.split('</think>')[-1].lstrip('\n') %}
            {%- endif %}
        {%- endif %}
        {%- if loop.index0 > ns.last_query_index %}
            {%- if loop.last or (not loop.last and reasoning_content) %}
                {{- '<|im_start|>' + message.role + '\n<think>\n' + reasoning_content.strip('\n') + '\n</think>\n\n' + content.lstrip('\n') }}
            {%- else %}
                {{- '<|im_start|>' + message.role + '\n' + content }}
            {%- endif %}
        {%- else %}
            {{- '<|im_start|>' + message.role + '\n' + content }}
        {%- endif %}
        {{- '<|im_end|>\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\n\n</think>\n\n' }}
    {%- endif %}
{%- endif %}
"""

SMOLLM2_DEFAULT = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
QWEN25_DEFAULT = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."


class Base:
    """A base's template, its family, the tokens it renders with, and what the runtime adds."""

    def __init__(self, name, template, family, bos, eos, close, runtime_bos="", **extra):
        self.name, self.template, self.family = name, template, family
        self.bos, self.eos = bos, eos
        self.close = close  # what ends an assistant turn in the rendered text
        self.runtime_bos = runtime_bos  # prepended at tokenization by llama.cpp / Ollama
        self.extra = extra

    def render(self, messages, add_generation_prompt):
        """dlm's renderer (the one training and ``dlm prompt`` use) over this template."""
        return compile_template(self.template).render(
            messages=messages, add_generation_prompt=add_generation_prompt, bos_token=self.bos, eos_token=self.eos, **self.extra
        )

    def __repr__(self):
        return self.name


BASES = [
    Base("smollm2", SMOLLM2_TEMPLATE, "chatml", "<|im_start|>", "<|im_end|>", "<|im_end|>\n"),
    Base("qwen2.5", QWEN25_TEMPLATE, "chatml", "", "<|im_end|>", "<|im_end|>\n"),
    Base("llama3.2", LLAMA32_TEMPLATE, "llama3", "<|begin_of_text|>", "<|eot_id|>", "<|eot_id|>", runtime_bos="<|begin_of_text|>"),
    Base("qwen3", QWEN3_TEMPLATE, "qwen3", "", "<|im_end|>", "<|im_end|>\n", enable_thinking=False),
]
# The real Llama 3.2 system turn (date preamble); not in BASES, its system turn is never bare.
DATED_LLAMA32 = Base("llama3.2-dated", LLAMA32_DATED_TEMPLATE, "llama3", "<|begin_of_text|>", "<|eot_id|>", "<|eot_id|>", runtime_bos="<|begin_of_text|>")

# --- a port of Ollama's Modelfile parser (parser/parser.go, ParseFile) ---------------------------

NIL, NAME, VALUE, PARAMETER, MESSAGE, COMMENT = range(6)
COMMANDS = {"from", "license", "template", "system", "adapter", "draft", "renderer", "parser", "parameter", "message", "requires"}


class ParseError(Exception):
    pass


def go_printable(char: str) -> bool:
    return char == " " or unicodedata.category(char)[0] in "LMNPS"


def _next_state(r: str, state: int) -> tuple[int, str]:
    space, newline, alpha = r in " \t", r in "\r\n", r.isascii() and r.isalpha()
    if state == NIL:
        if r == "#":
            return COMMENT, ""
        if space or newline:
            return NIL, ""
        return NAME, r
    if state == NAME:
        if alpha:
            return NAME, r
        if space:
            return VALUE, ""
        raise ParseError("invalid command")
    if state == VALUE:
        return (NIL, r) if space or newline else (VALUE, r)
    if state in (PARAMETER, MESSAGE):
        if alpha or (state == PARAMETER and (r.isascii() and r.isdigit() or r == "_")):
            return state, r
        if space:
            return VALUE, ""
        raise ParseError("unexpected EOF")
    if state == COMMENT:
        return (NIL, "") if newline else (COMMENT, "")
    raise AssertionError(state)


def _unquote(s: str) -> tuple[str, bool]:
    if s[:3] == '"""':
        return (s[3:-3], True) if len(s) >= 6 and s[-3:] == '"""' else ("", False)
    if s[:1] == '"':
        return (s[1:-1], True) if len(s) >= 2 and s[-1] == '"' else ("", False)
    return s, True


def parse_modelfile(text: str) -> list[tuple[str, str]]:
    """(name, args) per command, as Ollama's ParseFile returns them."""
    commands: list[tuple[str, str]] = []
    state, buf, name, role = NIL, "", "", ""
    for r in text:
        nxt, r = _next_state(r, state)
        if nxt != state:
            if state == NAME:
                word = buf.lower()
                if word not in COMMANDS:
                    raise ParseError(f"invalid command {buf!r}")
                if word == "from":
                    name = "model"
                elif word == "parameter":
                    nxt = PARAMETER
                else:
                    if word == "message":
                        nxt = MESSAGE
                    name = word
            elif state == PARAMETER:
                name = buf
            elif state == MESSAGE:
                if buf not in ("system", "user", "assistant"):
                    raise ParseError("invalid message role")
                role = buf
            elif state == VALUE:
                value, ok = _unquote(buf.strip(" \t\r\n"))  # Go's TrimSpace; the buffer holds no other spaces
                if not ok or r in " \t":
                    buf += r
                    continue
                if role:
                    value, role = f"{role}: {value}", ""
                commands.append((name, value))
            buf, state = "", nxt
        if r and go_printable(r):
            buf += r
    if state == VALUE:
        value, ok = _unquote(buf.strip(" \t\r\n"))
        if not ok:
            raise ParseError("unexpected EOF")
        commands.append((name, f"{role}: {value}" if role else value))
    elif state not in (NIL, COMMENT):
        raise ParseError("unexpected EOF")
    if not any(cmd == "model" for cmd, _ in commands):
        raise ParseError("no FROM line")
    return commands


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # from ollama/ollama parser/parser_test.go
        ('FROM foo\nSYSTEM """\nThis is a\nmultiline system.\n"""\n', [("model", "foo"), ("system", "\nThis is a\nmultiline system.\n")]),
        ('FROM foo\nSYSTEM """This is a\nmultiline system."""\n', [("model", "foo"), ("system", "This is a\nmultiline system.")]),
        ('FROM foo\nSYSTEM """\nThis is a multiline system with "quotes".\n"""\n', [("model", "foo"), ("system", '\nThis is a multiline system with "quotes".\n')]),
        ('FROM foo\nSYSTEM """"""\n', [("model", "foo"), ("system", "")]),
        ('FROM foo\nSYSTEM """\'\'"\'""\'""\'"\'\'\'\'\'""\'""\'"""\n', [("model", "foo"), ("system", "''\"'\"\"'\"\"'\"'''''\"\"'\"\"'")]),
        ('FROM "     model 1"\nLICENSE "MIT       "\nTEMPLATE """   {{ .Prompt }}   """    \n', [("model", "     model 1"), ("license", "MIT       "), ("template", "   {{ .Prompt }}   ")]),
        ("FROM     FOOO BAR    ", [("model", "FOOO BAR")]),
        ('FROM foo\nPARAMETER stop "### User: "\n', [("model", "foo"), ("stop", "### User: ")]),
        ('FROM foo\nPARAMETER stop """### User:\n"""\n', [("model", "foo"), ("stop", "### User:\n")]),
        ("FROM foo\nPARAMETER stop <|eot_id|>\n", [("model", "foo"), ("stop", "<|eot_id|>")]),
        ("# comment\nFROM foo\nMESSAGE system You are a file parser.\n", [("model", "foo"), ("message", "system: You are a file parser.")]),
    ],
)
def test_parser_port_agrees_with_ollamas_own_cases(text, expected):
    assert parse_modelfile(text) == expected


@pytest.mark.parametrize("text", ['FROM foo\nSYSTEM """This is a multiline system.""\n', 'FROM foo\nSYSTEM "\n', "FROM foo\nPARAMETER param1\n", "FROM foo\nBADCOMMAND x\n"])
def test_parser_port_rejects_what_ollama_rejects(text):
    with pytest.raises(ParseError):
        parse_modelfile(text)


# --- an evaluator for the Go text/template subset the templates use ------------------------------

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN = re.compile(r'\s*(\(|\)|"(?:[^"\\]|\\.)*"|-?\d+|\$\w*(?:\.\w+)*|(?:\.\w+)+|\.|\w+)')
_GO_SPACE = " \t\r\n"


def _lex(template: str) -> list[tuple]:
    items: list[list] = []
    at = 0
    for match in _ACTION.finditer(template):
        items.append(["text", template[at : match.start()]])
        items.append(["action", match.group(2).strip(), bool(match.group(1)), bool(match.group(3))])
        at = match.end()
    items.append(["text", template[at:]])
    for index, item in enumerate(items):
        if item[0] == "action":
            if item[2]:
                items[index - 1][1] = items[index - 1][1].rstrip(_GO_SPACE)
            if item[3]:
                items[index + 1][1] = items[index + 1][1].lstrip(_GO_SPACE)
    return [tuple(item) for item in items]


def _parse_expr(source: str):
    tokens = _TOKEN.findall(source)
    assert "".join(tokens) == re.sub(r"\s+", "", source), f"cannot tokenise {source!r}"

    def command(pos: int, stop: str | None):
        terms = []
        while pos < len(tokens) and tokens[pos] != stop:
            if tokens[pos] == "(":
                term, pos = command(pos + 1, ")")
                pos += 1
            else:
                term, pos = ("lit", tokens[pos]), pos + 1
            terms.append(term)
        head = terms[0]
        if head[0] == "lit" and re.fullmatch(r"[A-Za-z_]\w*", head[1]):
            return ("call", head[1], terms[1:]), pos
        assert len(terms) == 1, f"not a function call: {source!r}"
        return head, pos

    expr, pos = command(0, None)
    assert pos == len(tokens)
    return expr


def _parse(items, pos: int, stops: tuple[str, ...]):
    nodes = []
    while pos < len(items):
        item = items[pos]
        if item[0] == "text":
            nodes.append(("text", item[1]))
            pos += 1
            continue
        body = item[1]
        if body == "end" or body == "else" or body.startswith("else if "):
            assert body.split()[0] in stops, f"unexpected {body!r}"
            return nodes, pos, body
        if body.startswith("if "):
            branches, otherwise = [], []
            cond = _parse_expr(body[3:])
            while True:
                block, pos, stop = _parse(items, pos + 1, ("end", "else"))
                branches.append((cond, block))
                if stop.startswith("else if "):
                    cond = _parse_expr(stop[8:])
                    continue
                if stop == "else":
                    otherwise, pos, stop = _parse(items, pos + 1, ("end",))
                    assert stop == "end"
                break
            nodes.append(("if", branches, otherwise))
        elif body.startswith("range "):
            spec = body[6:]
            names = []
            if ":=" in spec:
                left, spec = spec.split(":=")
                names = [name.strip() for name in left.split(",")]
            block, pos, stop = _parse(items, pos + 1, ("end",))
            assert stop == "end"
            nodes.append(("range", names, _parse_expr(spec), block))
        elif re.match(r"\$\w+\s*:=", body):
            name, expr = body.split(":=", 1)
            nodes.append(("assign", name.strip(), _parse_expr(expr)))
        else:
            nodes.append(("print", _parse_expr(body)))
        pos += 1
    assert not stops, f"missing {{{{ end }}}} for {stops}"
    return nodes, pos, None


def _field(value, path: list[str]):
    for name in path:
        value = value[name]  # a missing field is an execution error in Go; KeyError here
    return value


def _same_type(a, b) -> bool:
    return type(a) is type(b)


_FUNCS = {
    "eq": lambda a, *bs: any(_check(_same_type(a, b), "eq", a, b) and a == b for b in bs),
    "ne": lambda a, b: _check(_same_type(a, b), "ne", a, b) and a != b,
    "and": lambda *xs: next((x for x in xs if not x), xs[-1]),
    "or": lambda *xs: next((x for x in xs if x), xs[-1]),
    "not": lambda x: not x,
    "len": len,
    "slice": lambda x, i=None, j=None: x[i:j],  # Go: slice x i j is x[i:j]
}


def _check(ok: bool, func: str, a, b) -> bool:
    if not ok:
        raise TypeError(f"{func}: incompatible types for comparison: {a!r} {b!r}")
    return True


def _eval(expr, dot, env):
    if expr[0] == "call":
        return _FUNCS[expr[1]](*(_eval(arg, dot, env) for arg in expr[2]))
    token = expr[1]
    if token.startswith('"'):
        return json.loads(token)
    if re.fullmatch(r"-?\d+", token):
        return int(token)
    if token == ".":
        return dot
    if token.startswith("$"):
        head, *path = token.split(".")
        return _field(env[head], path)
    return _field(dot, token.split(".")[1:])


def _run(nodes, dot, env, out: list[str]) -> None:
    for node in nodes:
        kind = node[0]
        if kind == "text":
            out.append(node[1])
        elif kind == "print":
            value = _eval(node[1], dot, env)
            assert isinstance(value, (str, int)), f"printing {value!r}"
            out.append(str(value))
        elif kind == "assign":
            env[node[1]] = _eval(node[2], dot, env)
        elif kind == "if":
            for cond, block in node[1]:
                if _eval(cond, dot, env):
                    _run(block, dot, dict(env), out)
                    break
            else:
                _run(node[2], dot, dict(env), out)
        elif kind == "range":
            names, expr, block = node[1], node[2], node[3]
            for index, item in enumerate(_eval(expr, dot, env)):
                scope = dict(env)
                if len(names) == 2:
                    scope[names[0]], scope[names[1]] = index, item
                elif len(names) == 1:
                    scope[names[0]] = item
                _run(block, item, scope, out)


def go_execute(template: str, data: dict) -> str:
    nodes, _, _ = _parse(_lex(template), 0, ())
    out: list[str] = []
    _run(nodes, data, {"$": data}, out)
    return "".join(out)


def ollama_prompt(template: str, modelfile_system: str, messages: list[dict[str, str]]) -> str:
    """What Ollama's chat handler feeds ``template`` for ``messages`` (routes.go, template.collate)."""
    msgs = [dict(m) for m in messages]
    if msgs and msgs[0]["role"] != "system" and modelfile_system:
        msgs.insert(0, {"role": "system", "content": modelfile_system})
    system = "\n\n".join(m["content"] for m in msgs if m["role"] == "system")
    collated: list[dict[str, str]] = []
    for m in msgs:
        if collated and collated[-1]["Role"] == m["role"] and m["role"] != "tool":
            collated[-1]["Content"] += "\n\n" + m["content"]
        else:
            collated.append({"Role": m["role"], "Content": m["content"]})
    return go_execute(template, {"System": system, "Messages": collated})


def ollama_render(modelfile: str, messages: list[dict[str, str]]) -> str:
    """Modelfile text -> Ollama's parser -> server -> Go template: the prompt Ollama builds."""
    commands = parse_modelfile(modelfile)
    settings_ = dict(commands)
    return ollama_prompt(settings_["template"], settings_.get("system", ""), messages)


# The evaluator itself, on templates and outputs from ollama/ollama template/ (chatml.gotmpl,
# llama3-instruct.gotmpl and testdata; TestExecuteWithMessages "mistral assistant").
CONVERSATION = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Hello, how are you?"},
    {"role": "assistant", "content": "I'm doing great. How can I help you today?"},
    {"role": "user", "content": "I'd like to show off how chat templating works!"},
]


@pytest.mark.parametrize(
    ("template", "messages", "expected"),
    [
        (
            "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n",
            CONVERSATION,
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello, how are you?<|im_end|>\n"
            "<|im_start|>assistant\nI'm doing great. How can I help you today?<|im_end|>\n"
            "<|im_start|>user\nI'd like to show off how chat templating works!<|im_end|>\n<|im_start|>assistant\n",
        ),
        (
            "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>\n{{- end }}"
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            CONVERSATION,
            "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHello, how are you?<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nI'm doing great. How can I help you today?<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nI'd like to show off how chat templating works!<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
        ),
        (
            '\n{{- range $i, $m := .Messages }}\n{{- if eq .Role "user" }}[INST] {{ .Content }}[/INST] '
            '{{ else if eq .Role "assistant" }}{{ .Content }}{{ end }}\n{{- end }}',
            [
                {"role": "user", "content": "Hello friend!"},
                {"role": "assistant", "content": "Hello human!"},
                {"role": "user", "content": "What is your name?"},
                {"role": "assistant", "content": "My name is Ollama and I"},
            ],
            "[INST] Hello friend![/INST] Hello human![INST] What is your name?[/INST] My name is Ollama and I",
        ),
    ],
)
def test_go_evaluator_agrees_with_ollamas_testdata(template, messages, expected):
    assert ollama_prompt(template, "", messages) == expected


def test_go_evaluator_scoping_and_functions():
    template = '{{- range $i, $_ := .Messages }}{{ $last := eq (len (slice $.Messages $i)) 1 }}{{ if $last }}last={{ $i }}{{ else }}{{ .Role }},{{ end }}{{ end }}{{ if and .System (ne .System "x") }}!{{ end }}'
    data = {"System": "s", "Messages": [{"Role": "a"}, {"Role": "b"}, {"Role": "c"}]}
    assert go_execute(template, data) == "a,b,last=2!"
    with pytest.raises(TypeError):
        go_execute('{{ if eq .System 1 }}{{ end }}', data)


# --- the Modelfile ---------------------------------------------------------------------------------

PARAMS = dict(temperature=0.7, top_p=0.9, num_ctx=4096)


def modelfile(family: str, system: str | None = None, **overrides) -> str:
    return render_modelfile("adapter-merged.Q8_0.gguf", family, system=system, **{**PARAMS, **overrides})


USER = "Hello,\nwhat does {{ .System }} print in \"Go\"? \\n isn't a newline. ünïcödé ✓"
ASSISTANT = "It prints the system prompt:\n\n```go\n{{ .System }}\n```"
DOC_SYSTEM = "Answer from the document only.\nQuote it as \"\"\"this\"\"\" when you can."

CONVERSATIONS = {
    "system-user": [{"role": "system", "content": DOC_SYSTEM}, {"role": "user", "content": USER}],
    "user": [{"role": "user", "content": USER}],
    "system-user-assistant-user": [
        {"role": "system", "content": DOC_SYSTEM},
        {"role": "user", "content": USER},
        {"role": "assistant", "content": ASSISTANT},
        {"role": "user", "content": "And {{ .Content }}?"},
    ],
    "user-assistant-user": [
        {"role": "user", "content": USER},
        {"role": "assistant", "content": ASSISTANT},
        {"role": "user", "content": "Thanks."},
    ],
}


@pytest.mark.parametrize("conversation", list(CONVERSATIONS))
@pytest.mark.parametrize("base", BASES, ids=repr)
def test_template_renders_what_the_hf_template_renders(base, conversation):
    """The prompt Ollama builds equals the HF rendering, with the base's implicit system as SYSTEM."""
    messages = CONVERSATIONS[conversation]
    system = implicit_system(base.template, base.render)
    expected = base.render(messages, True)
    assert base.runtime_bos + ollama_render(modelfile(base.family, system), messages) == expected


@pytest.mark.parametrize("base", BASES, ids=repr)
def test_modelfile_system_reaches_the_model_when_the_request_has_none(base):
    messages = [{"role": "user", "content": USER}]
    expected = base.render([{"role": "system", "content": DOC_SYSTEM}, *messages], True)
    assert base.runtime_bos + ollama_render(modelfile(base.family, DOC_SYSTEM), messages) == expected


@pytest.mark.parametrize("base", BASES, ids=repr)
def test_request_system_message_replaces_the_modelfile_system(base):
    messages = CONVERSATIONS["system-user-assistant-user"]
    expected = base.render(messages, True)
    assert base.runtime_bos + ollama_render(modelfile(base.family, "Something else entirely."), messages) == expected


@pytest.mark.parametrize("base", BASES, ids=repr)
def test_a_final_assistant_message_is_left_open_for_ollama_to_continue(base):
    messages = [*CONVERSATIONS["system-user"], {"role": "assistant", "content": ASSISTANT}]
    rendered = base.render(messages, False)
    assert rendered.endswith(base.close)
    assert base.runtime_bos + ollama_render(modelfile(base.family), messages) == rendered.removesuffix(base.close)


def test_qwen3_generation_prompt_is_non_thinking():
    prompt = ollama_render(modelfile("qwen3"), [{"role": "user", "content": "Hi"}])
    assert prompt == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"


def test_llama3_template_leaves_bos_to_the_runtime():
    """The runtime adds <|begin_of_text|> (add_bos_token); writing it too would double it."""
    assert "<|begin_of_text|>" not in FAMILIES["llama3"].template
    prompt = ollama_render(modelfile("llama3"), [{"role": "user", "content": "Hi"}])
    assert prompt == "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"


@pytest.mark.parametrize("family", list(FAMILIES))
def test_modelfile_round_trips_through_ollamas_parser(family):
    text = modelfile(family, DOC_SYSTEM)
    assert parse_modelfile(text) == [
        ("model", "./adapter-merged.Q8_0.gguf"),
        ("template", FAMILIES[family].template),
        *(("stop", stop) for stop in stop_tokens(family)),
        ("temperature", "0.7"),
        ("top_p", "0.9"),
        ("num_ctx", "4096"),
        ("system", DOC_SYSTEM),
    ]


def test_modelfile_layout():
    text = modelfile("chatml", "Be brief.")
    assert text.startswith("# Ollama Modelfile written by dlm: chatml chat template (SmolLM2, Qwen2.5)\nFROM ./adapter-merged.Q8_0.gguf\n\nTEMPLATE \"\"\"{{- if .System }}")
    assert text.endswith('{{- end }}"""\n\nPARAMETER stop "<|im_end|>"\nPARAMETER stop "<|im_start|>"\nPARAMETER temperature 0.7\nPARAMETER top_p 0.9\nPARAMETER num_ctx 4096\n\nSYSTEM """Be brief."""\n')


@pytest.mark.parametrize(
    ("family", "stops"),
    [
        ("chatml", ["<|im_end|>", "<|im_start|>"]),
        ("qwen3", ["<|im_end|>", "<|im_start|>"]),
        ("llama3", ["<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"]),
    ],
)
def test_stop_tokens_and_stop_lines(family, stops):
    assert stop_tokens(family) == stops
    lines = [line for line in modelfile(family).splitlines() if line.startswith("PARAMETER stop ")]
    assert lines == [f'PARAMETER stop "{stop}"' for stop in stops]


def test_sampling_and_context_lines():
    lines = modelfile("llama3", temperature=0, top_p=1, num_ctx=131072).splitlines()
    assert "PARAMETER temperature 0.0" in lines
    assert "PARAMETER top_p 1.0" in lines
    assert "PARAMETER num_ctx 131072" in lines
    assert "PARAMETER temperature 1e-05" in modelfile("chatml", temperature=1e-5).splitlines()


@pytest.mark.parametrize(
    "overrides",
    [
        {"temperature": -0.1},
        {"temperature": float("nan")},
        {"temperature": float("inf")},
        {"temperature": True},
        {"temperature": "0.7"},
        {"top_p": 1.5},
        {"top_p": -0.5},
        {"num_ctx": 0},
        {"num_ctx": 4096.0},
        {"num_ctx": True},
    ],
)
def test_bad_parameters_are_refused(overrides):
    with pytest.raises(ValueError):
        modelfile("chatml", **overrides)


@pytest.mark.parametrize("name", ["", ".", "..", "out/model.gguf", "..\\model.gguf", " model.gguf", "model.gguf ", "model\n.gguf", "model\u00a0.gguf"])
def test_bad_gguf_names_are_refused(name):
    with pytest.raises(ValueError, match="plain file name"):
        render_modelfile(name, "chatml", system=None, **PARAMS)


def test_gguf_name_with_inner_space_survives():
    text = render_modelfile("my model.gguf", "chatml", system=None, **PARAMS)
    assert parse_modelfile(text)[0] == ("model", "./my model.gguf")


def test_unknown_family_is_refused_by_name():
    with pytest.raises(ValueError, match=r"unknown chat template family 'mistral'; dlm knows chatml, llama3, qwen3"):
        modelfile("mistral")
    with pytest.raises(ValueError, match="mistral"):
        stop_tokens("mistral")


def test_no_system_line_without_a_system_prompt():
    assert "SYSTEM" not in modelfile("chatml", None)
    assert "SYSTEM" not in modelfile("chatml", "")


def test_output_is_deterministic_and_ends_with_a_newline():
    first = modelfile("qwen3", DOC_SYSTEM)
    assert first == modelfile("qwen3", DOC_SYSTEM)
    assert first.endswith('"""\n') and not first.endswith("\n\n")


# --- system prompts that are hard to quote ---------------------------------------------------------

AWKWARD_SYSTEMS = [
    'He said """stop""" and left.',  # """ mid-line: kept verbatim, the block only ends at a line end
    'C:\\new\\table and \\"escaped\\" quotes, \\\\ double',  # backslashes are literal, not escapes
    'Ends in a quote "',
    'Ends in three quotes """',
    '"""starts with three quotes',
    '""',
    '"',
    "\nleading and trailing newlines\n",
    "  spaces and\ttabs  ",
    'a """ \\\nline ending in a backslash after quotes',
    "windows\r\nline ends",
    "# not a comment\nPARAMETER temperature 9\nFROM ./other.gguf",
]


@pytest.mark.parametrize("system", AWKWARD_SYSTEMS)
def test_awkward_system_prompts_reach_ollama_verbatim(system):
    text = modelfile("chatml", system)
    assert dict(parse_modelfile(text))["system"] == system
    assert len([cmd for cmd, _ in parse_modelfile(text) if cmd == "temperature"]) == 1


@pytest.mark.parametrize(
    "system",
    [
        'Do this:\n"""\nthen that',
        'line one """\nline two',
        'trailing blanks after quotes """  \t\nnext',
        'carriage return """\r\nnext',
        'x"""\nPARAMETER temperature 9\nSYSTEM """y',
    ],
)
def test_triple_quotes_at_a_line_end_are_refused(system):
    with pytest.raises(ValueError, match='"""'):
        modelfile("chatml", system)
    # and the refusal is needed: written anyway, Ollama would cut the text short or fail
    raw = f'FROM ./m.gguf\nSYSTEM """{system}"""\n'
    try:
        assert dict(parse_modelfile(raw)).get("system") != system
    except ParseError:
        pass


@pytest.mark.parametrize("char", ["\u00a0", "\u200d", "\u3000", "\x00", "\x0b", "\x1b", "\ufeff", "\u2028", "\ue000"])
def test_characters_ollama_would_drop_are_refused(char):
    with pytest.raises(ValueError, match=f"U\\+{ord(char):04X}"):
        modelfile("chatml", f"before{char}after")


_ALPHABET = st.sampled_from(['"', '"', '"', "\\", "\n", "\r", " ", "\t", "a", "#", "é", "{", "\u00a0", "\u200d", "\x00"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=_ALPHABET, max_size=24))
def test_system_is_written_verbatim_or_refused_only_when_it_cannot_be(system):
    """Either Ollama reads back exactly ``system``, or no triple-quoted block could carry it."""
    try:
        text = modelfile("chatml", system)
    except ValueError:
        raw = f'FROM ./m.gguf\nSYSTEM """{system}"""\n'
        try:
            assert dict(parse_modelfile(raw)).get("system") != system
        except ParseError:
            pass
    else:
        assert dict(parse_modelfile(text)).get("system", "") == system


# --- family detection and the implicit system prompt ----------------------------------------------


@pytest.mark.parametrize(
    ("template", "family"),
    [
        (SMOLLM2_TEMPLATE, "chatml"),
        (QWEN25_TEMPLATE, "chatml"),
        (LLAMA32_TEMPLATE, "llama3"),
        (LLAMA32_DATED_TEMPLATE, "llama3"),
        (QWEN3_TEMPLATE, "qwen3"),
        ("{% for m in messages %}[INST] {{ m.content }} [/INST]{% endfor %}", None),
        ("", None),
        (None, None),
    ],
)
def test_detect_family(template, family):
    assert detect_family(template) == family


def test_families_match_the_base_registry():
    from dlmbuild.bases.registry import REGISTRY

    assert {row.template for row in REGISTRY.values() if row.modality == "text"} <= set(FAMILIES)
    assert {row.template for row in REGISTRY.values() if row.modality != "text"} == {""}  # detected from the template
    assert list(FAMILIES) == ["chatml", "llama3", "qwen3", "smolvlm"]  # smolvlm: read off a VL base's template


@pytest.mark.parametrize(
    ("base", "expected"),
    [(BASES[0], SMOLLM2_DEFAULT), (BASES[1], QWEN25_DEFAULT), (BASES[2], None), (BASES[3], None)],
    ids=repr,
)
def test_implicit_system(base, expected):
    assert implicit_system(base.template, base.render) == expected


def test_implicit_system_of_the_dated_llama32_template_is_its_preamble():
    base = DATED_LLAMA32
    system = implicit_system(base.template, base.render)
    assert system == "Cutting Knowledge Date: December 2023\nToday Date: 01 Jan 2024\n\n"  # dlm pins strftime_now
    messages = [{"role": "user", "content": USER}]
    assert base.runtime_bos + ollama_render(modelfile("llama3", system), messages) == base.render(messages, True)


def test_implicit_system_needs_a_known_family_and_a_rendered_user_message():
    with pytest.raises(ValueError, match="does not recognise"):
        implicit_system("{{ messages }}", lambda messages, gen: "")
    with pytest.raises(ValueError, match="did not write the user message"):
        implicit_system(SMOLLM2_TEMPLATE, lambda messages, gen: "<|im_start|>system\nx<|im_end|>\n")



@pytest.mark.parametrize("base", [*BASES, DATED_LLAMA32], ids=repr)
@pytest.mark.parametrize("doc_system", [None, DOC_SYSTEM, "  padded system prompt\n"])
def test_system_turn_makes_ollama_reproduce_the_training_prompt(base, doc_system):
    """SYSTEM = system_turn(...) gives, for a request without a system message, the prompt dlm trained on."""
    system = system_turn(base.template, base.render, doc_system)
    history = [{"role": "system", "content": doc_system}] if doc_system is not None else []
    for messages in (CONVERSATIONS["user"], CONVERSATIONS["user-assistant-user"]):
        expected = base.render([*history, *messages], True)
        assert base.runtime_bos + ollama_render(modelfile(base.family, system), messages) == expected


def test_system_turn_values():
    assert system_turn(SMOLLM2_TEMPLATE, BASES[0].render, "Be brief.") == "Be brief."
    assert system_turn(LLAMA32_TEMPLATE, BASES[2].render, "  Be brief.\n") == "Be brief."  # Llama trims
    dated = system_turn(LLAMA32_DATED_TEMPLATE, DATED_LLAMA32.render, "Be brief.")
    assert dated == "Cutting Knowledge Date: December 2023\nToday Date: 01 Jan 2024\n\nBe brief."
    assert system_turn(QWEN3_TEMPLATE, BASES[3].render, None) is None


# SmolVLM-Instruct's template (Idefics3): content is a list of parts, as its processor passes it.
SMOLVLM_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)


@pytest.mark.parametrize("conversation", list(CONVERSATIONS))
def test_smolvlm_template_renders_what_the_hf_template_renders(conversation):
    """A vision GGUF's Modelfile (rules/media_gguf.py): Ollama's prompt for text turns equals
    SmolVLM's own rendering of the same turns as text parts."""
    messages = CONVERSATIONS[conversation]
    parts = [{"role": m["role"], "content": [{"type": "text", "text": m["content"]}]} for m in messages]
    expected = compile_template(SMOLVLM_TEMPLATE).render(messages=parts, add_generation_prompt=True)
    assert detect_family(SMOLVLM_TEMPLATE) == "smolvlm"
    assert ollama_render(modelfile("smolvlm", None), messages) == expected


def test_vision_modelfile_imports_the_model_then_its_projector():
    from dlmbuild.export.modelfile import render_vision_modelfile

    text = render_vision_modelfile("shapes.f16.gguf", "shapes.mmproj.f16.gguf", "smolvlm", temperature=0.0, top_p=1.0,
                                   num_ctx=2048)
    froms = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert froms == ["FROM ./shapes.f16.gguf", "FROM ./shapes.mmproj.f16.gguf"]
    assert 'PARAMETER stop "<end_of_utterance>"' in text and "SYSTEM" not in text
    with pytest.raises(ValueError):
        render_vision_modelfile("shapes.f16.gguf", "bad\nname.gguf", "smolvlm", temperature=0.0, top_p=1.0, num_ctx=2048)
