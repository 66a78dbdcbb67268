"""Smoke tests of the benchmark scripts: they run, and their engine and naive baselines agree (the speed
figures themselves are printed by the scripts, never asserted)."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str) -> dict:
    # one thread: the naive baseline uses torch's default (all cores), which stalls on a busy CI machine
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], check=True,
                         capture_output=True, text=True, timeout=600, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_bench_fig2_runs_and_engine_follows_the_naive_trajectory():
    res = _run("bench_fig2.py", "--steps", "20")
    assert res["config"]["steps"] == 20
    assert res["engine_naive_trajectories_agree"] is True
    assert res["mixed_relative_loss_difference"] < 1e-3
    assert abs(res["engine_final_loss"] - res["naive_final_loss"]) <= 1e-9 * res["naive_final_loss"]
