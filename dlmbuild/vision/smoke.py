"""The smoke test of a VL GGUF pair: llama.cpp answers an image prompt as transformers does.

It follows the text export's (``dlmbuild.export.smoke``): llama.cpp's multimodal path
(``mtmd_run``, in a child process) and transformers answer the same image prompt greedily, and
for F16 files the tokens must match, with transformers' weights rounded as the files store them
(``round_like_f16_gguf``). The prompt's token layout, image positions included, must match too:
llama.cpp builds it from the text and the projector's settings, transformers from the processor.

``projector_error`` checks the projector alone: the largest difference between the image
embeddings llama.cpp computes and transformers' (a few 1e-4 on the tiny fixture base). Greedy
tokens can agree while image features are off, when training made the answer insensitive to
them; the embeddings cannot.

llama.cpp's multimodal library is optional in llama-cpp-python (``LLAVA_BUILD``; the pinned
toolchain turns it on): ``mtmd_problem`` says whether it is there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from dlmbuild.errors import EnvironmentProblem
from dlmbuild.multimodal.labels import end_of_turn_ids
from dlmbuild.multimodal.model import cpu_threads, load_model, load_processor
from dlmbuild.vision.collate import processor_inputs, prompt_text
from dlmbuild.vision.gguf import VisionGguf
from dlmbuild.vision.images import DEFAULT_MAX_PIXELS, load_image

TOKENS = 16
UNAVAILABLE_HINT = ("llama.cpp's multimodal library (libmtmd) cannot be loaded; the pinned toolchain builds it "
                    "(LLAVA_BUILD=ON in vendor/llama-cpp.toml): run `python -m dlmbuild.export.toolchain install`, "
                    "or point MTMD_CPP_LIB at a folder holding libmtmd.so")


@dataclass
class VisionSmokeResult:
    question: str
    text: str
    tokens: list[int]
    reference: list[int] = field(default_factory=list)
    prompt_ids: list[int] = field(default_factory=list)
    reference_prompt_ids: list[int] = field(default_factory=list)
    exact: bool = True

    @property
    def prompt_matches(self) -> bool:
        return self.prompt_ids == self.reference_prompt_ids

    def as_dict(self) -> dict:
        return asdict(self)


def mtmd_problem() -> str:
    """'' when llama.cpp's multimodal library can be used here, else why not (one line)."""
    from dlmbuild.export.native import run_isolated

    problem = run_isolated("dlmbuild.vision.mtmd_run:mtmd_problem_here", doing="loading libmtmd")
    return f"{UNAVAILABLE_HINT} ({problem})" if problem else ""


def round_like_f16_gguf(model) -> None:
    """Round the weights an F16 GGUF pair stores in float16 (every matrix, the token embeddings
    included) through float16, in place; the vision embeddings stay float32, as the projector
    converter writes them, and so do norms and biases."""
    import torch

    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.ndim >= 2 and not (".embeddings." in name and "vision" in name):
                param.copy_(param.half().float())


def llama_answer(files: VisionGguf, prompt: str, placeholder: str, images: list[Path], *, n: int = TOKENS,
                 threads: int = 1, cancel=None) -> dict:
    """llama.cpp's greedy answer to an image prompt (see ``mtmd_run.mtmd_greedy_here``)."""
    from dlmbuild.export.native import run_isolated

    return run_isolated("dlmbuild.vision.mtmd_run:mtmd_greedy_here",
                        {"text_gguf": str(files.text), "mmproj": str(files.mmproj), "prompt": prompt,
                         "placeholder": placeholder, "images": [str(p) for p in images], "n": n, "threads": threads},
                        doing=f"answering an image prompt with {files.text.name} + {files.mmproj.name}", cancel=cancel)


def reference_answer(model_dir: Path, prompt: str, images: list[Path], *, n: int = TOKENS, threads: int = 0,
                     max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[list[int], list[int]]:
    """transformers' prompt ids and greedy tokens on the F16-rounded model."""
    import torch

    pictures = [load_image(p, max_pixels=max_pixels) for p in images]
    with cpu_threads(threads):
        processor = load_processor(model_dir)
        model = load_model(model_dir)
        round_like_f16_gguf(model)
        inputs = processor_inputs(processor, prompt, pictures)
        stops = sorted(end_of_turn_ids(processor.tokenizer))
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=n, do_sample=False, eos_token_id=stops,
                                 pad_token_id=processor.tokenizer.pad_token_id)
    prompt_ids = inputs["input_ids"][0].tolist()
    tokens = out[0, len(prompt_ids):].tolist()
    while tokens and tokens[-1] in stops:
        tokens.pop()
    return prompt_ids, tokens


def projector_error(files: VisionGguf, model_dir: Path, images: list[Path], *, threads: int = 1) -> float:
    """The largest absolute difference between llama.cpp's image embeddings and transformers'
    (F16-rounded), over every tile and the global view of ``images``."""
    import torch

    from dlmbuild.export.native import run_isolated

    llama = run_isolated("dlmbuild.vision.mtmd_run:mtmd_image_embeddings_here",
                         {"text_gguf": str(files.text), "mmproj": str(files.mmproj), "images": [str(p) for p in images],
                          "threads": threads},
                         doing=f"encoding images with {files.mmproj.name}")
    processor = load_processor(model_dir)
    model = load_model(model_dir)
    round_like_f16_gguf(model)
    pixels = processor.image_processor([[load_image(p) for p in images]], return_tensors="pt")
    with torch.no_grad():
        features = model.model.get_image_features(pixel_values=pixels["pixel_values"],
                                                  pixel_attention_mask=pixels["pixel_attention_mask"]).pooler_output[0]
    ours = torch.tensor(llama)
    if ours.numel() != features.numel():
        raise EnvironmentProblem(f"llama.cpp made {ours.numel()} image-embedding values, transformers {features.numel()}")
    return float((ours - features.reshape(ours.shape)).abs().max())


def smoke_vl(files: VisionGguf, model_dir: Path, question: str, images: list[Path], *, exact: bool = True,
             n: int = TOKENS, threads: int = 1, cancel=None) -> VisionSmokeResult:
    """Run the image prompt through llama.cpp and (for exact files) transformers; raise
    ``EnvironmentProblem`` when llama.cpp answers nothing or, for F16, anything else."""
    processor = load_processor(model_dir)
    prompt = prompt_text(processor, len(images), question)
    placeholder = processor.image_token
    answer = llama_answer(files, prompt, placeholder, images, n=n, threads=threads, cancel=cancel)
    image_id = processor.tokenizer.convert_tokens_to_ids(placeholder)
    llama_prompt = [image_id if t == -1 else t for t in answer["prompt_ids"]]
    result = VisionSmokeResult(question, answer["text"], answer["tokens"], prompt_ids=llama_prompt, exact=exact)
    if exact:
        result.reference_prompt_ids, result.reference = reference_answer(model_dir, prompt, images, n=n)
        if not result.prompt_matches:
            raise EnvironmentProblem(f"smoke {files.text.name}: llama.cpp lays out the image prompt differently "
                                     f"from transformers ({len(llama_prompt)} vs {len(result.reference_prompt_ids)} tokens)")
        if result.tokens != result.reference:
            raise EnvironmentProblem(f"smoke {files.text.name}: llama.cpp answered {result.tokens[:8]}..., "
                                     f"transformers {result.reference[:8]}...")
    elif not answer["text"].strip():
        raise EnvironmentProblem(f"smoke {files.text.name}: llama.cpp gave an empty answer")
    return result
