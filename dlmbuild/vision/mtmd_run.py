"""llama.cpp's multimodal path (libmtmd) from Python: an image prompt in, greedy tokens out.

Runs inside a child process (``dlmbuild.export.native.run_isolated``): a native crash is one
line for the caller, never a dead build. The text GGUF is loaded with llama-cpp-python's
``Llama``; the projector GGUF with ``llama_cpp.mtmd_cpp`` (ctypes over ``libmtmd``).
``mtmd_tokenize`` lays out each image exactly as llama.cpp's own CLI would (for Idefics3: tiles
with ``<row_i_col_j>`` tags, then the global view), text chunks are evaluated with ``Llama.eval``
and image chunks with ``mtmd_helper_eval_chunk_single``; decoding is then plain greedy argmax
over the last logits, so nothing but the model decides the tokens.

The pixels come from ``load_image`` (Pillow) and enter as raw RGB: llama.cpp and transformers
see the same decoded image, and only their resizing and arithmetic can differ.

``libmtmd`` is a separate shared library that llama-cpp-python builds only with
``LLAVA_BUILD=ON``; ``MTMD_CPP_LIB`` (a folder) points the binding at one built elsewhere.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dlmbuild.vision.images import DEFAULT_MAX_PIXELS


def mtmd_problem_here() -> str:
    """'' when ``llama_cpp.mtmd_cpp`` loads (libmtmd is there), else why not, in one line."""
    try:
        import llama_cpp.mtmd_cpp  # noqa: F401  (loading it opens libmtmd)
    except Exception as exc:  # FileNotFoundError / RuntimeError / OSError from the loader
        return " ".join(str(exc).split()) or type(exc).__name__
    return ""


@dataclass
class _Session:
    llm: Any  # llama_cpp.Llama on the text GGUF
    ctx: Any  # mtmd context on the projector
    chunks: Any  # the tokenized prompt: text and image chunks
    mtmd: Any  # the llama_cpp.mtmd_cpp module

    def each_chunk(self) -> Iterator[tuple[int, Any, bool]]:
        for i in range(self.mtmd.mtmd_input_chunks_size(self.chunks)):
            chunk = self.mtmd.mtmd_input_chunks_get(self.chunks, i)
            yield i, chunk, self.mtmd.mtmd_input_chunk_get_type(chunk) == self.mtmd.MTMD_INPUT_CHUNK_TYPE_TEXT


@contextlib.contextmanager
def _session(text_gguf: str, mmproj: str, prompt: str, placeholder: str, images: list[str], threads: int,
             max_pixels: int) -> Iterator[_Session]:
    """Load both GGUFs and tokenize ``prompt`` (each ``placeholder`` marks the next image);
    everything native is freed on the way out."""
    import llama_cpp
    import llama_cpp.mtmd_cpp as mtmd

    from dlmbuild.export.native_log import captured_native_stderr
    from dlmbuild.vision.images import load_image

    llm = llama_cpp.Llama(model_path=text_gguf, n_ctx=1024, n_batch=512, n_threads=threads, seed=0, verbose=False)
    ctx, bitmaps, chunks = None, [], None
    try:
        params = mtmd.mtmd_context_params_default()
        params.use_gpu = False
        params.print_timings = False
        params.n_threads = threads
        params.warmup = False
        with captured_native_stderr() as lines:
            ctx = mtmd.mtmd_init_from_file(mmproj.encode(), llm.model, params)
        if not ctx:
            detail = next((line.strip() for line in reversed(lines) if line.strip()), "no detail")
            raise RuntimeError(f"llama.cpp could not load the projector {mmproj}: {detail}")
        for path in images:
            image = load_image(path, max_pixels=max_pixels)
            raw = image.tobytes()
            bitmap = mtmd.mtmd_bitmap_init(image.width, image.height, (ctypes.c_uint8 * len(raw)).from_buffer_copy(raw))
            if not bitmap:
                raise RuntimeError(f"llama.cpp could not take the pixels of {path}")
            bitmaps.append(bitmap)
        text = prompt.replace(placeholder, mtmd.mtmd_default_marker().decode("utf-8")).encode("utf-8")
        input_text = mtmd.mtmd_input_text()
        input_text.text = text
        input_text.text_len = len(text)
        input_text.add_special = False
        input_text.parse_special = True
        chunks = mtmd.mtmd_input_chunks_init()
        array = (mtmd.mtmd_bitmap_p_ctypes * max(len(bitmaps), 1))(*bitmaps)
        code = mtmd.mtmd_tokenize(ctx, chunks, ctypes.byref(input_text), array, len(bitmaps))
        if code != 0:
            raise RuntimeError(f"mtmd_tokenize failed (code {code}): does the prompt mark {len(bitmaps)} images?")
        yield _Session(llm, ctx, chunks, mtmd)
    finally:
        if chunks is not None:
            mtmd.mtmd_input_chunks_free(chunks)
        for bitmap in bitmaps:
            mtmd.mtmd_bitmap_free(bitmap)
        if ctx:
            mtmd.mtmd_free(ctx)
        llm.close()


def mtmd_greedy_here(text_gguf: str, mmproj: str, prompt: str, placeholder: str, images: list[str], n: int,
                     threads: int = 1, max_pixels: int = DEFAULT_MAX_PIXELS) -> dict:
    """Greedy tokens for ``prompt``. Returns ``prompt_ids`` (text tokens, each image position as
    ``-1``), ``tokens`` (generated, end-of-generation excluded) and ``text``."""
    import numpy as np

    import llama_cpp

    with _session(text_gguf, mmproj, prompt, placeholder, images, threads, max_pixels) as s:
        llm, prompt_ids, last_is_text = s.llm, [], False
        for _, chunk, is_text in s.each_chunk():
            if is_text:
                count = ctypes.c_size_t()
                pointer = s.mtmd.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(count))
                tokens = [pointer[j] for j in range(count.value)]
                if tokens:
                    llm.eval(tokens)
                    prompt_ids.extend(tokens)
                    last_is_text = True
                continue
            new_n_past = llama_cpp.llama_pos(0)
            code = s.mtmd.mtmd_helper_eval_chunk_single(s.ctx, llm._ctx.ctx, chunk, llama_cpp.llama_pos(llm.n_tokens),
                                                        llama_cpp.llama_seq_id(0), llm.n_batch, False,
                                                        ctypes.byref(new_n_past))
            if code != 0:
                raise RuntimeError(f"llama.cpp could not evaluate an image chunk (code {code})")
            llm.n_tokens = new_n_past.value
            prompt_ids.extend([-1] * s.mtmd.mtmd_input_chunk_get_n_tokens(chunk))
            last_is_text = False
        if not last_is_text:
            raise RuntimeError("the prompt must end with text after its last image")
        out: list[int] = []
        for _ in range(n):
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), shape=(llm.n_vocab(),))
            token = int(np.argmax(logits))
            if llama_cpp.llama_token_is_eog(llm._model.vocab, token):
                break
            out.append(token)
            llm.eval([token])
        return {"prompt_ids": prompt_ids, "tokens": out, "text": llm.detokenize(out).decode("utf-8", errors="replace")}


def mtmd_image_embeddings_here(text_gguf: str, mmproj: str, images: list[str], threads: int = 1,
                               max_pixels: int = DEFAULT_MAX_PIXELS) -> list[list[list[float]]]:
    """What llama.cpp's projector makes of each image chunk (for Idefics3: the tiles, then the
    global view): one ``[tokens][n_embd]`` list per chunk."""
    import numpy as np

    import llama_cpp

    placeholder = "<dlm-image>"
    with _session(text_gguf, mmproj, placeholder * len(images), placeholder, images, threads, max_pixels) as s:
        n_embd = llama_cpp.llama_model_n_embd(s.llm.model)
        out = []
        for i, chunk, is_text in s.each_chunk():
            if is_text:
                continue
            if s.mtmd.mtmd_encode_chunk(s.ctx, chunk) != 0:
                raise RuntimeError(f"llama.cpp could not encode image chunk {i}")
            n = s.mtmd.mtmd_input_chunk_get_n_tokens(chunk)
            values = np.ctypeslib.as_array(s.mtmd.mtmd_get_output_embd(s.ctx), shape=(n * n_embd,))
            out.append(values.reshape(n, n_embd).tolist())
        return out
