import pytest
import torch

import helpers as H
from helpers import config


@pytest.fixture(autouse=True)
def _reset(monkeypatch):
    monkeypatch.setattr(config, "_scale_override", None)
    monkeypatch.delenv("COURSE_SCALE", raising=False)


def test_default_scale_is_quick_and_env_switches_it(monkeypatch):
    assert H.get_scale() == "quick" and H.by_scale(quick=1, paper=2) == 1
    monkeypatch.setenv("COURSE_SCALE", "paper")
    assert H.get_scale() == "paper" and H.by_scale(quick=1, paper=2) == 2
    assert H.by_scale(quick=1, paper=2, scale="quick") == 1


def test_bad_scale_is_reported(monkeypatch):
    monkeypatch.setenv("COURSE_SCALE", "huge")
    with pytest.raises(ValueError, match="COURSE_SCALE must be one of"):
        H.get_scale()
    with pytest.raises(ValueError, match="scale must be one of"):
        H.by_scale(1, 2, scale="medium")


def test_setup_fixes_seed_and_reports(capsys):
    s = H.setup(seed=3, scale="paper")
    a = torch.rand(1)
    H.setup(seed=3, verbose=False)
    assert torch.equal(a, torch.rand(1))
    assert s.scale == "paper" and H.get_scale() == "paper"           # explicit scale sticks
    assert "scale 'paper'" in capsys.readouterr().out
    assert H.get_device().type in ("cpu", "cuda")
