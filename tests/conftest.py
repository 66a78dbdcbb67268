import os

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
# no progress bars in the tests, nor in the notebooks nbval executes (their kernels inherit this)
os.environ.setdefault("COURSE_PROGRESS", "0")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
