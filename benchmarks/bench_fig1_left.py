"""Benchmark: the Fig. 1 (left) configuration, trained by the course's engine and by a naive baseline.

Configuration (the authors' script for Fig. 1 left): d = 16, m = 32, n = 100, GELU, A = B = I, V = 0 and
weight-tied W at initialisation, L in {2, 16, 64, 256, 1014}, 50 full-batch gradient steps with
lr = 0.01 * L on the loss averaged over n * d entries, recording max_k ||Z_{k+1} - Z_k||_F at every step.

* engine: ``helpers.train`` (hand-written discrete adjoint, buffers allocated once, batched weight
  gradients and sigma', one intra-op thread for these small layers);
* naive: what a straightforward user writes -- a Python loop over layers in ``forward``, ``nn.Parameter``,
  ``torch.optim.SGD``, autograd, and a copy of the weights at every step from which the metric is computed.

Each runs in its own process so that its peak resident memory (RSS) is its own. The script prints a
table and, as its last line, one JSON object with the figures.

    python benchmarks/bench_fig1_left.py            # both, the full configuration
    python benchmarks/bench_fig1_left.py --quick    # smaller depths (smoke test)
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

DEPTHS = [2, 16, 64, 256, 1014]
QUICK_DEPTHS = [2, 16, 64]
N, D, M, STEPS, LR = 100, 16, 32, 50, 0.01


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def _data():
    import torch
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(N, D, generator=gen)
    y = torch.randn(N, D, generator=gen)
    W0 = torch.randn(M, D, generator=gen)
    return x, y, W0


def run_engine(depths):
    import torch
    import helpers as H
    x, y, W0 = _data()
    per_depth, gaps = {}, {}
    start = time.perf_counter()
    for L in depths:
        t0 = time.perf_counter()
        net = H.ResNet.simple(torch.zeros(L, D, M), W0.expand(L, M, D).clone(), "gelu")
        rec = H.train(net, x, y, steps=STEPS, eta=LR, normalization="nd", progress=False)
        per_depth[L] = time.perf_counter() - t0
        gaps[L] = rec.max_gap_up_to(STEPS)
    total = time.perf_counter() - start
    # seconds per step at L = 1024, against the flop bound
    net = H.ResNet.simple(torch.zeros(1024, D, M), W0.expand(1024, M, D).clone(), "gelu")
    rec = H.train(net, x, y, steps=20, eta=LR, normalization="nd", progress=False)
    return dict(total_s=total, per_depth_s=per_depth, max_gap=gaps, step_s_L1024=rec.wall_time / 20,
                peak_rss_mb=_peak_rss_mb(), threads=1)


def run_naive(depths):
    import torch
    import torch.nn as nn
    x, y, W0 = _data()

    class ResNet(nn.Module):
        def __init__(self, L):
            super().__init__()
            self.L = L
            self.V = nn.Parameter(torch.zeros(L, D, M))
            self.W = nn.Parameter(W0.expand(L, M, D).clone())

        def forward(self, h):
            for V_k, W_k in zip(self.V, self.W):
                h = h + nn.functional.gelu(h @ W_k.T) @ V_k.T / self.L
            return h

    per_depth, gaps = {}, {}
    start = time.perf_counter()
    for L in depths:
        t0 = time.perf_counter()
        net = ResNet(L)
        opt = torch.optim.SGD(net.parameters(), lr=LR * L)
        copies = []
        for _ in range(STEPS):
            copies.append((net.V.detach().clone(), net.W.detach().clone()))
            opt.zero_grad()
            loss = ((net(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
        copies.append((net.V.detach().clone(), net.W.detach().clone()))
        gaps[L] = max(float(((V[1:] - V[:-1]).norm(dim=(1, 2)) + (W[1:] - W[:-1]).norm(dim=(1, 2))).max())
                      if L > 1 else 0.0 for V, W in copies)
        per_depth[L] = time.perf_counter() - t0
    total = time.perf_counter() - start
    return dict(total_s=total, per_depth_s=per_depth, max_gap=gaps, peak_rss_mb=_peak_rss_mb(),
                threads=torch.get_num_threads())


def _child(impl: str, depths) -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, __file__, "--child", impl, "--depths", ",".join(map(str, depths))]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["per_depth_s"] = {int(k): v for k, v in result["per_depth_s"].items()}
    result["max_gap"] = {int(k): v for k, v in result["max_gap"].items()}
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="depths 2, 16, 64 only")
    parser.add_argument("--skip-naive", action="store_true", help="time the engine only")
    parser.add_argument("--child", choices=["engine", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--depths", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        depths = [int(v) for v in args.depths.split(",")]
        result = (run_engine if args.child == "engine" else run_naive)(depths)
        print(json.dumps(result))
        return

    import torch
    depths = QUICK_DEPTHS if args.quick else DEPTHS
    load_before = os.getloadavg()[0]
    engine = _child("engine", depths)
    naive = None if args.skip_naive else _child("naive", depths)
    load_after = os.getloadavg()[0]

    # flop count of one gradient step at depth L: forward 2 matmuls, backward 2 + 2 weight gradients,
    # each 2*n*q*m flops -> 12 n d m per layer (activations and additions neglected)
    flops_step_1024 = 12 * N * D * M * 1024
    total_flops = sum(12 * N * D * M * L * STEPS for L in depths)
    gflops_ref = 60.0   # one core on a large matmul, measured on this class of machine
    bound_s = flops_step_1024 / (gflops_ref * 1e9)

    print(f"Fig. 1 (left) configuration: n={N}, d={D}, m={M}, GELU, tied W, V=0, {STEPS} steps, lr=0.01*L")
    print(f"machine: {os.cpu_count()} cores, load average {load_before:.2f} before / {load_after:.2f} after, "
          f"torch {torch.__version__}")
    print()
    header = f"{'depth L':>8} | {'engine s':>9} | {'naive s':>9} | {'L*max gap (engine)':>18} | {'(naive)':>8}"
    print(header)
    print("-" * len(header))
    for L in depths:
        nv = naive["per_depth_s"][L] if naive else float("nan")
        ng = naive["max_gap"][L] * L if naive else float("nan")
        print(f"{L:>8} | {engine['per_depth_s'][L]:>9.3f} | {nv:>9.3f} | {engine['max_gap'][L] * L:>18.4f} | {ng:>8.4f}")
    print("-" * len(header))
    speedup = naive["total_s"] / engine["total_s"] if naive else float("nan")
    print(f"{'total':>8} | {engine['total_s']:>9.3f} | {naive['total_s'] if naive else float('nan'):>9.3f} |"
          f"  speed-up {speedup:.1f}x")
    print(f"peak RSS: engine {engine['peak_rss_mb']:.0f} MB, naive {naive['peak_rss_mb'] if naive else float('nan'):.0f} MB "
          f"(each in its own process, torch import included)")
    print(f"seconds per step at L=1024: {engine['step_s_L1024'] * 1e3:.1f} ms; flop bound "
          f"{flops_step_1024 / 1e9:.2f} GFLOP / {gflops_ref:.0f} GFLOP/s = {bound_s * 1e3:.1f} ms "
          f"({engine['step_s_L1024'] / bound_s:.1f}x the bound)")
    print(f"total work {total_flops / 1e9:.1f} GFLOP; targets: engine <= 3 s and <= 300 MB")
    summary = {
        "config": {"n": N, "d": D, "m": M, "steps": STEPS, "depths": depths, "activation": "gelu"},
        "engine_s": round(engine["total_s"], 3), "naive_s": round(naive["total_s"], 3) if naive else None,
        "speedup": round(speedup, 2) if naive else None,
        "engine_peak_rss_mb": round(engine["peak_rss_mb"], 1),
        "naive_peak_rss_mb": round(naive["peak_rss_mb"], 1) if naive else None,
        "step_ms_L1024": round(engine["step_s_L1024"] * 1e3, 2), "flop_bound_ms_L1024": round(bound_s * 1e3, 2),
        "load_avg_before": round(load_before, 2), "load_avg_after": round(load_after, 2),
        "cores": os.cpu_count(), "torch": torch.__version__,
        "max_gap_agree": bool(naive is None or all(
            abs(engine["max_gap"][L] - naive["max_gap"][L]) <= 1e-3 * max(naive["max_gap"][L], 1e-12) + 1e-6
            for L in depths)),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
