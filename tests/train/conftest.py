"""Training tests share two cores between two test processes: one thread each, or they fight
over both."""

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs choose their own threads (train.hardware.choose_threads), after OMP_NUM_THREADS."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
