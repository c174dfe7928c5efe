"""Torch tests here run on one thread: the suite shares two cores with whatever else runs, and
an oversubscribed torch job slows down 3-10x (FIELD_NOTES)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
