"""A vision base without a chat template, PaliGemma's prefix-LM layout
(``dlmbuild/multimodal/prefix_lm.py``), on a PaliGemma-shaped base built from a config
(tiny_paligemma.py): the answer is the suffix after the prompt, the prefix a training example
starts with is token for token what prompting sends, and an adapter trained through it answers
each picture, in ``dlm build`` and ``dlm prompt --image`` as in the library."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import run_dlm_once
from tests.helpers import suite_threads
from tests.vision.conftest import PICTURES, QUESTION, TRAIN_OPTIONS, examples_for
from tests.vision.test_dlm_e2e import DOC
from tests.vision.tiny_paligemma import IMAGE_SEQ_LEN


@pytest.fixture(scope="module")
def processor(tiny_paligemma):
    from dlmbuild.multimodal.model import load_processor

    return load_processor(tiny_paligemma)


def test_the_answer_is_the_suffix_and_the_prefix_is_what_prompting_sends(processor, pictures):
    from dlmbuild.multimodal.labels import IGNORE
    from dlmbuild.vision.collate import encode_example, prompt_inputs
    from dlmbuild.vision.images import load_image

    tokenizer = processor.tokenizer
    encoded = encode_example(processor, {"images": [str(pictures["red-circle"])], "prompt": QUESTION, "answer": "A red circle."})
    head = prompt_inputs(processor, QUESTION, [load_image(pictures["red-circle"])])
    head_ids = head["input_ids"][0].tolist()
    assert "labels" not in head and head["token_type_ids"].sum() == 0
    assert encoded.input_ids[: len(head_ids)] == head_ids
    assert head_ids[:IMAGE_SEQ_LEN] == [processor.image_token_id] * IMAGE_SEQ_LEN
    assert tokenizer.decode(head_ids[IMAGE_SEQ_LEN:]) == tokenizer.bos_token + QUESTION + "\n"
    assert tokenizer.decode([t for t in encoded.labels if t != IGNORE]) == "A red circle." + tokenizer.eos_token
    assert encoded.labels[: len(head_ids)] == [IGNORE] * len(head_ids)
    suffix = len(encoded.input_ids) - len(head_ids)
    assert encoded.extra["token_type_ids"][0].tolist() == [0] * len(head_ids) + [1] * suffix
    assert tuple(encoded.pixel_values.shape) == (1, 3, 32, 32)


def test_a_text_only_example_takes_the_same_layout_without_images(processor):
    from dlmbuild.vision.collate import encode_example

    tokenizer = processor.tokenizer
    encoded = encode_example(processor, {"prompt": "Who keeps the lamp?", "answer": "Odile does."})
    assert tokenizer.decode(encoded.input_ids) == f"{tokenizer.bos_token}Who keeps the lamp?\nOdile does.{tokenizer.eos_token}"
    assert encoded.pixel_values is None


def test_an_adapter_answers_each_picture_and_the_base_does_not(tiny_paligemma, pictures, tmp_path):
    from dlmbuild.vision.generate import generate
    from dlmbuild.vision.train import train_vision_lora

    report = train_vision_lora(tiny_paligemma, examples_for(pictures), tmp_path / "adapter", **TRAIN_OPTIONS)
    assert report["losses"][-1] < report["losses"][0] / 10
    for name, spec in PICTURES.items():
        trained = generate(tiny_paligemma, [pictures[name]], QUESTION, adapter_dir=tmp_path / "adapter", max_new_tokens=8)
        assert trained == spec["answer"]
        assert generate(tiny_paligemma, [pictures[name]], QUESTION, max_new_tokens=8) != spec["answer"]


@pytest.mark.slow
def test_dlm_builds_prompts_and_exports_a_paligemma_document(tiny_paligemma, pictures, tmp_path):
    for name, path in pictures.items():
        shutil.copy(path, tmp_path / f"{name}.png")
    doc = tmp_path / "shapes.dlm"
    doc.write_text(DOC.format(base=tiny_paligemma, question=QUESTION).replace("01KB0V1S10N0D0C00000000001",
                                                                               "01KB0PA11GEMMA0D0C00000001"))
    env = {"DLM_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1", "DLM_THREADS": suite_threads()}
    doctor = run_dlm_once(env, "doctor", doc, "--json")
    assert doctor.code == 0, doctor.err
    assert json.loads(doctor.out)["document"]["adapters"]["default"]["image_tokens"] == IMAGE_SEQ_LEN
    built = run_dlm_once(env, "build", doc)
    assert built.code == 0, built.err
    for name, spec in PICTURES.items():
        done = run_dlm_once(env, "prompt", doc, QUESTION, "--image", tmp_path / f"{name}.png", "--max-new-tokens", "8")
        assert done.code == 0 and done.out.strip() == spec["answer"], done.err
    exported = run_dlm_once(env, "export", doc, "--target", "hf", "--out", tmp_path / "snapshot")
    assert exported.code == 0, exported.err
    readme = (tmp_path / "snapshot" / "README.md").read_text()
    assert 'processor(text=["<image>What is in the image?"]' in readme and "apply_chat_template" not in readme
