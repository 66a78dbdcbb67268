import pytest
import torch

import helpers as H
from helpers.config import get_device, num_threads
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
    assert get_device().type == "cpu"


def test_the_course_runs_on_the_cpu_and_refuses_a_missing_gpu(monkeypatch):
    assert get_device().type == "cpu" and H.setup(0, verbose=False).device.type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device"):
        H.setup(0, device="cuda", verbose=False)
    with pytest.raises(ValueError, match="device"):
        get_device("tpu")


def test_progress_bars_off_with_course_progress_0(monkeypatch):
    monkeypatch.setenv("COURSE_PROGRESS", "0")
    assert not config.progress_allowed(None) and not config.progress_allowed(True)
    monkeypatch.setenv("COURSE_PROGRESS", "1")
    assert config.progress_allowed(None) and not config.progress_allowed(False)


def test_num_threads_restores_the_setting_and_validates():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with num_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(ValueError, match="num_threads must be an integer >= 1, got 0"):
            with num_threads(0):
                pass
    finally:
        torch.set_num_threads(before)
