"""Judges: parsing, the refusals made before sampling, an external command judge (JSON in, one
score per line out) and its failures, and a reward model built in the test."""

from __future__ import annotations

import json
import sys

import pytest

from dlmbuild.errors import DlmError, UsageError
from dlmbuild.mine.judges import CommandJudge, JudgeSpec, RewardModelJudge, check_judge, parse_judge


@pytest.mark.parametrize(("text", "message"), [
    ("slef", "unknown judge 'slef' (did you mean 'self'?); use one of: self, hf:PATH, cli:COMMAND"),
    ("hf:", "judge 'hf:' needs a model folder after the colon"),
    ("gpt:x", "unknown judge 'gpt:x'; use one of: self, hf:PATH, cli:COMMAND"),
])
def test_bad_judges_are_one_line(text, message):
    with pytest.raises(UsageError) as caught:
        parse_judge(text)
    assert str(caught.value) == message


def test_hf_judge_must_be_a_sequence_classifier(tmp_path):
    (tmp_path / "lm").mkdir()
    (tmp_path / "lm" / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    with pytest.raises(UsageError) as caught:
        check_judge(parse_judge(f"hf:{tmp_path / 'lm'}"))
    assert str(caught.value).endswith("not a sequence-classification (reward) model (its architectures: LlamaForCausalLM)")
    with pytest.raises(UsageError):
        check_judge(parse_judge(f"hf:{tmp_path / 'missing'}"))
    with pytest.raises(UsageError) as caught:
        check_judge(parse_judge("cli:no-such-judge-program --x"))
    assert str(caught.value) == "judge cli:no-such-judge-program: no such program"


def script(tmp_path, body: str) -> str:
    path = tmp_path / "judge.py"
    path.write_text(body)
    return f"{sys.executable} {path}"


def test_command_judge_reads_json_and_prints_scores(tmp_path):
    command = script(tmp_path, "import json,sys\nd=json.load(sys.stdin)\nfor c in d['candidates']: print(-len(c) + len(d['prompt']))\n")
    judge = CommandJudge(JudgeSpec("cli", command))
    assert judge.score("four", "ref", ["a", "abc"]) == [3.0, 1.0]


@pytest.mark.parametrize(("body", "message"), [
    ("import sys\nsys.exit(3)\n", "failed (exit 3)"),
    ("print('1.0')\n", "printed 1 line(s), not one number per candidate (2)"),
    ("print('good'); print('bad')\n", "printed 2 line(s), not one number per candidate (2)"),
    ("import time\ntime.sleep(5)\n", "did not answer within 0.5 s"),
])
def test_command_judge_failures_are_one_line(tmp_path, body, message):
    judge = CommandJudge(JudgeSpec("cli", script(tmp_path, body)), timeout=0.5)
    with pytest.raises(DlmError) as caught:
        judge.score("p", "r", ["a", "b"])
    assert message in str(caught.value) and str(caught.value).endswith("nothing was written") and "\n" not in str(caught.value)


def test_a_reward_model_scores_each_answer(tmp_path):
    torch = pytest.importorskip("torch")
    from transformers import LlamaConfig, LlamaForSequenceClassification

    from tests.rules.conftest import make_base

    folder = make_base(tmp_path / "rm")
    vocab = json.loads((folder / "config.json").read_text())["vocab_size"]
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=1, num_labels=1, pad_token_id=2)
    LlamaForSequenceClassification(config).save_pretrained(str(folder))
    spec = parse_judge(f"hf:{folder}")
    check_judge(spec)
    scores = RewardModelJudge(spec).score("what is the fact", "", ["the fact is a value", "a note"])
    assert len(scores) == 2 and scores[0] != scores[1]
