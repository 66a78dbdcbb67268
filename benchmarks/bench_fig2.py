"""Benchmark: the Fig. 2 configuration (the long-time run), trained by the course's engine and by a naive baseline.

Configuration (the authors' script for Fig. 2, notebook 08 at paper scale): n = 50, d = 16, m = 64, L = 64,
GELU, float64, A = B = I, V = 0 and weight-tied W at initialisation (``H.make_resnet(..., kind="tied",
V="zero")``), Gaussian inputs and targets, full-batch gradient descent with eta = 0.005 (lr = eta * L on
the residual weights) on the loss averaged over n * d entries; the paper trains 80 000 steps. At every
step both implementations record the loss, L * max_k ||Z_{k+1} - Z_k||_F and the PL ratio of Def. 1.

* engine: ``helpers.train`` (hand-written discrete adjoint, buffers allocated once, GELU composed from the
  vectorised ``torch.erf``, one intra-op thread for these small layers);
* mixed: the engine with the precision scheme ``float32_steps``: the first half of the steps in float32,
  the rest in float64 (``H.train(..., float32_steps=steps // 2)``);
* naive: what a straightforward user writes -- a Python loop over layers in ``forward``, ``nn.Parameter``,
  ``torch.optim.SGD``, autograd, ``torch.nn.functional.gelu``, the metrics from the weights and ``.grad``.

All run the same steps, each in its own process (its own peak memory); the script checks that engine
and naive follow the same trajectory and says how far the mixed scheme's final loss is from float64's.
It prints a table and, as its last line, one JSON object with the figures.

    python benchmarks/bench_fig2.py                       # the paper's 80 000 steps, all three
    python benchmarks/bench_fig2.py --skip-naive          # engine and mixed only (about 8 minutes)
    python benchmarks/bench_fig2.py --steps 2000          # a smoke test

The time per step of anything built on torch's fused GELU depends on the values of the pre-activations (in
float64 it evaluates erf entry by entry): the default measures the whole run rather than extrapolating from
a short one.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

N, D, M, L, ETA, PAPER_STEPS = 50, 16, 64, 64, 0.005, 80_000


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def _setup():
    import helpers as H
    x, y = H.gaussian_data(N, D, seed=0)                                  # float64
    net = H.make_resnet(L, D, M, kind="tied", V="zero", seed=0)           # float64, GELU, A = B = I
    return x, y, net


def run_engine(steps: int, float32_steps: int = 0) -> dict:
    import helpers as H
    x, y, net = _setup()
    rec = H.train(net, x, y, steps=steps, eta=ETA, normalization="nd", record_pl=True, progress=False,
                  float32_steps=float32_steps)
    return dict(wall_s=rec.wall_time, losses=rec.losses.tolist(), L_gap=(L * rec.max_gap).tolist(),
                pl=rec.pl_ratio.tolist(), peak_rss_mb=_peak_rss_mb())


def run_naive(steps: int) -> dict:
    import torch
    import torch.nn as nn
    x, y, net0 = _setup()

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.V = nn.Parameter(net0.V.clone())
            self.W = nn.Parameter(net0.W.clone())

        def forward(self, h):
            for V_k, W_k in zip(self.V, self.W):
                h = h + nn.functional.gelu(h @ W_k.T) @ V_k.T / L
            return h

    net = ResNet()
    opt = torch.optim.SGD(net.parameters(), lr=ETA * L)
    losses, gaps, pl = [], [], []

    def gap() -> float:
        with torch.no_grad():
            V, W = net.V, net.W
            return L * float(((V[1:] - V[:-1]).norm(dim=(1, 2)) + (W[1:] - W[:-1]).norm(dim=(1, 2))).max())

    start = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        loss = ((net(x) - y) ** 2).mean()
        loss.backward()
        losses.append(loss.item())
        gaps.append(gap())
        pl.append(L * float(net.V.grad.pow(2).sum() + net.W.grad.pow(2).sum()) / float(loss))
        opt.step()
    with torch.no_grad():
        losses.append(float(((net(x) - y) ** 2).mean()))
    gaps.append(gap())
    return dict(wall_s=time.perf_counter() - start, losses=losses, L_gap=gaps, pl=pl, peak_rss_mb=_peak_rss_mb())


def _child(impl: str, steps: int) -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1", COURSE_PROGRESS="0")
    cmd = [sys.executable, __file__, "--child", impl, "--steps", str(steps)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def _max_rel(a, b) -> float:
    return max(abs(u - v) / max(abs(v), 1e-300) for u, v in zip(a, b))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=PAPER_STEPS,
                        help="gradient steps for each run (default: the paper's 80000)")
    parser.add_argument("--skip-naive", action="store_true", help="time the engine (float64 and mixed) only")
    parser.add_argument("--child", choices=["engine", "mixed", "naive"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.steps < 1:
        parser.error(f"--steps must be a positive integer, got {args.steps}")
    if args.child:
        if args.child == "naive":
            result = run_naive(args.steps)
        else:
            result = run_engine(args.steps, args.steps // 2 if args.child == "mixed" else 0)
        print(json.dumps(result))
        return

    import torch
    steps = args.steps
    load_before = os.getloadavg()[0]
    engine = _child("engine", steps)
    mixed = _child("mixed", steps)
    naive = None if args.skip_naive else _child("naive", steps)
    load_after = os.getloadavg()[0]

    print(f"Fig. 2 configuration: n={N}, d={D}, m={M}, L={L}, GELU, float64, tied W, V=0, eta={ETA} "
          f"(lr={ETA * L:g}), {steps} steps, loss, L*max gap and PL ratio recorded at every step")
    print(f"machine: {os.cpu_count()} cores, load average {load_before:.2f} before / {load_after:.2f} after, "
          f"torch {torch.__version__}")
    print()
    runs = {"engine": engine, "mixed": mixed, "naive": naive}
    cols = [k for k, r in runs.items() if r]
    for r in runs.values():
        if r:
            r["ms_per_step"] = r["wall_s"] / steps * 1e3
            r["min_for_80000"] = r["ms_per_step"] * PAPER_STEPS / 1e3 / 60
    header = f"{'':>28} | " + " | ".join(f"{c:>12}" for c in cols)
    print(header)
    print("-" * len(header))
    extrapolated = "" if steps == PAPER_STEPS else ", extrapolated"
    rows = [("wall time (s)", "wall_s", "{:.1f}"), ("peak RSS (MB)", "peak_rss_mb", "{:.0f}"),
            ("ms per step", "ms_per_step", "{:.2f}"),
            (f"{PAPER_STEPS} steps (min){extrapolated}", "min_for_80000", "{:.1f}")]
    for label, key, fmt in rows:
        print(f"{label:>28} | " + " | ".join(f"{fmt.format(runs[c][key]):>12}" for c in cols))
    print(f"{'final loss':>28} | " + " | ".join(f"{runs[c]['losses'][-1]:>12.4e}" for c in cols))
    print(f"{'final L*max gap':>28} | " + " | ".join(f"{runs[c]['L_gap'][-1]:>12.4f}" for c in cols))
    print("-" * len(header))
    agree = None
    if naive:
        dev = {k: _max_rel(engine[k], naive[k]) for k in ("losses", "L_gap", "pl")}
        agree = all(v <= 1e-6 for v in dev.values())
        print(f"engine and naive, same trajectory: largest relative difference over all steps -- loss "
              f"{dev['losses']:.1e}, L*max gap {dev['L_gap']:.1e}, PL ratio {dev['pl']:.1e} "
              f"({'agree' if agree else 'DISAGREE'} at 1e-6); speed-up {naive['wall_s'] / engine['wall_s']:.1f}x")
    mixed_dev = abs(mixed["losses"][-1] - engine["losses"][-1]) / engine["losses"][-1]
    print(f"mixed (first {steps // 2} steps in float32): final loss {100 * mixed_dev:.2f}% from float64 throughout")
    for c in ("engine", "mixed"):
        print(f"target, the paper's {PAPER_STEPS} steps in <= 5 minutes on 2 cores: "
              f"{'met' if runs[c]['min_for_80000'] <= 5 else 'NOT met'} by {c} at this speed")
    summary = {
        "config": {"n": N, "d": D, "m": M, "L": L, "eta": ETA, "steps": steps, "dtype": "float64",
                   "activation": "gelu"},
        **{f"{c}_{key}": round(runs[c][key], 3) for c in cols
           for key in ("wall_s", "ms_per_step", "min_for_80000", "peak_rss_mb")},
        **{f"{c}_final_loss": runs[c]["losses"][-1] for c in cols},
        "mixed_relative_loss_difference": mixed_dev, "engine_naive_trajectories_agree": agree,
        "load_avg_before": round(load_before, 2), "load_avg_after": round(load_after, 2),
        "cores": os.cpu_count(), "torch": torch.__version__,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
