import sys
import types

import matplotlib
import numpy as np
import pytest
import torch

import helpers as H
from helpers.chapters import ch09_real_data as ch


# -- data ---------------------------------------------------------------------------------------------
def test_digit_split_is_a_partition_of_the_digits():
    data = ch.digit_split(450, seed=0)
    assert data.images_train.shape == (1347, 1, 8, 8) and data.images_test.shape == (450, 1, 8, 8)
    assert data.images_train.dtype == torch.float32 and data.x_train.dtype == torch.float64
    assert data.x_train.shape == (1347, 64) and data.y_test.shape == (450, 10)
    assert torch.allclose(data.images_train.reshape(1347, 64).double(), data.x_train, atol=1e-6)
    assert torch.equal(data.y_train.argmax(1), data.labels_train)
    full = H.digits_data(None, seed=0).x
    rows = lambda t: {tuple(r) for r in t.round(decimals=6).tolist()}
    assert not rows(data.x_train) & rows(data.x_test)                     # disjoint (as sets of images)
    assert len(rows(data.x_train) | rows(data.x_test)) == len(rows(full))
    again = ch.digit_split(450, seed=0)
    assert torch.equal(again.labels_test, data.labels_test)
    assert not torch.equal(ch.digit_split(450, seed=1).labels_test, data.labels_test)
    assert "1347 training" in str(data)


@pytest.mark.parametrize("kwargs, error, match", [(dict(n_test=0), ValueError, "n_test"),
                                                  (dict(n_test=1797), ValueError, "n_test must be < 1797"),
                                                  (dict(n_test=4.5), TypeError, "n_test"),
                                                  (dict(seed=-2), ValueError, "seed")])
def test_digit_split_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ch.digit_split(**kwargs)


def test_fc_accuracy_reads_the_largest_output():
    net = H.make_resnet(2, 12, 4, kind="iid", form="paper", d=2, d_out=3, seed=0)
    net.B[:] = torch.randn(3, 12, dtype=torch.float64)
    x = torch.randn(50, 2, dtype=torch.float64)
    labels = torch.randint(0, 3, (50,))
    assert ch.fc_accuracy(net, x, labels) == pytest.approx(100 * float((net(x).argmax(1) == labels).double().mean()))
    with pytest.raises(ValueError, match="labels"):
        ch.fc_accuracy(net, x, labels[:3])
    with pytest.raises(TypeError, match="net"):
        ch.fc_accuracy("net", x, labels)


# -- Fig. 3's picture -----------------------------------------------------------------------------------
def test_kernel_entries_and_their_plot():
    entries = ch.kernel_entries(4, 16, seed=0)
    assert entries == ch.kernel_entries(4, 16, seed=0) and len(set(entries)) == 4
    assert all(0 <= o < 16 and 0 <= i < 16 and 0 <= r < 3 and 0 <= c < 3 for o, i, r, c in entries)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w = torch.randn(7, 16, 16, 3, 3)
    ax = ch.plot_weight_entries(w, entries=entries[:2], color="C0", title="t", label="conv1")
    assert len(ax.lines) == 2 and np.allclose(ax.lines[1].get_ydata(), w[(slice(None), *entries[1])].numpy())
    assert np.array_equal(ax.lines[0].get_xdata(), np.arange(1, 8))
    ax = ch.plot_weight_entries(np.zeros((9, 3)))
    assert len(ax.lines) == 3
    with pytest.raises(ValueError, match="weights"):
        ch.plot_weight_entries(np.zeros((9, 3)), entries=entries)
    with pytest.raises(ValueError, match="weights"):
        ch.plot_weight_entries(np.zeros(9))
    plt.close("all")


# -- checkpoint or train ----------------------------------------------------------------------------------
TINY = dict(ch.DEEP, activations=("gelu",), depths=(2,), seeds=(0, 1), paper_depth=3, paper_seeds=(0,),
            entry_depths=(3,), epochs=1)


@pytest.fixture(scope="module")
def tiny_results():
    return ch.train_deep_runs(TINY, progress=False)


def test_deep_runs_record_what_the_notebook_needs(tiny_results):
    runs = tiny_results["runs"]
    assert len(runs) == 2 * 2 + 2 and {r["L"] for r in runs} == {2, 3}
    r = runs[0]
    assert set(r) >= {"activation", "start", "L", "seed", "test_acc", "train_acc", "roughness", "roughness0", "gaps", "moved"}
    tied = [r for r in runs if r["start"] == "tied"]
    assert all(r["roughness0"] == 0 for r in tied) and all(r["roughness"] > 0 for r in tied)
    assert all(r["roughness"] == pytest.approx(r["L"] * float(r["gaps"].max()), rel=1e-5) for r in runs)
    kept = tiny_results["weights"]["gelu/iid/3"]
    assert kept["conv1"].shape == (3, 4) and set(kept) == {"conv1", "conv2", "conv1_init", "conv2_init"}
    table = ch.run_table(tiny_results, L=2)
    assert set(table) == {("gelu", "tied"), ("gelu", "iid")} and table["gelu", "iid"][3] == 2
    med = np.median([r["test_acc"] for r in runs if r["L"] == 2 and r["start"] == "iid"])
    assert table["gelu", "iid"][0] == pytest.approx(med)
    depths, rough, counts = ch.roughness_by_depth(tiny_results, "gelu", "tied")
    assert depths.tolist() == [2, 3] and counts == [2, 1] and len(rough) == 2
    with pytest.raises(ValueError, match="no runs"):
        ch.run_table(tiny_results, L=5)


def test_checkpoint_round_trip_and_hash_check(tiny_results, tmp_path):
    path = tmp_path / "ck.pt"
    digest = ch.save_checkpoint(tiny_results, path)
    assert (tmp_path / "ck.pt.sha256").read_text() == f"{digest}  ck.pt\n" and digest == ch.sha256_of(path)
    loaded = ch.load_checkpoint(path)
    assert loaded["runs"][1]["test_acc"] == tiny_results["runs"][1]["test_acc"]
    assert torch.equal(loaded["weights"]["gelu/tied/3"]["conv2"], tiny_results["weights"]["gelu/tied/3"]["conv2"])
    path.write_bytes(path.read_bytes() + b"x")                            # a damaged file
    with pytest.raises(ValueError, match="SHA-256"):
        ch.load_checkpoint(path)
    (tmp_path / "ck.pt.sha256").unlink()
    with pytest.raises(FileNotFoundError, match="hash file"):
        ch.load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        ch.load_checkpoint(tmp_path / "missing.pt")


def test_load_or_train_trains_when_missing_or_asked(tmp_path, capsys, monkeypatch):
    calls = []
    fake = dict(format=1, runs=[], wall_time=1.0, torch="x", settings={})
    monkeypatch.setattr(ch, "train_deep_runs", lambda settings, progress=None: calls.append(settings) or fake)
    path = tmp_path / "sub" / "deep.pt"
    assert ch.load_or_train(path)["format"] == 1 and len(calls) == 1 and path.is_file()
    assert "training" in capsys.readouterr().out
    ch.load_or_train(path)                                               # present: loaded, not trained
    assert len(calls) == 1 and "SHA-256" in capsys.readouterr().out
    ch.load_or_train(path, regenerate=True)
    assert len(calls) == 2 and "regenerating" in capsys.readouterr().out
    with pytest.raises(TypeError, match="regenerate"):
        ch.load_or_train(path, regenerate="yes")


def test_the_committed_checkpoint_is_intact_and_complete():
    path = ch.default_checkpoint()
    if not path.is_file():
        pytest.skip(f"no checkpoint at {path}")
    deep = ch.load_checkpoint(path)                                      # checks the SHA-256
    s = deep["settings"]
    n = len(s["activations"]) * len(s["starts"]) * len(s["depths"]) * len(s["seeds"])
    assert len(deep["runs"]) == n + len(s["starts"]) * len(s["paper_seeds"])
    assert set(deep["weights"]) == {f"gelu/{st}/{L}" for st in s["starts"] for L in s["entry_depths"]}
    assert path.stat().st_size < 3_000_000
    assert {k: s[k] for k in ch.CONV} == ch.CONV                         # written with today's settings


# -- the optional CIFAR-10 path ------------------------------------------------------------------------------
def _fake_torchvision(monkeypatch, calls, n=6):
    class CIFAR10:
        def __init__(self, root, train, download):
            calls.append(download)
            rng = np.random.default_rng(0)
            self.data = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
            self.targets = list(range(n))

    tv = types.ModuleType("torchvision")
    tv.datasets = types.ModuleType("torchvision.datasets")
    tv.datasets.CIFAR10 = CIFAR10
    tv.__spec__ = types.SimpleNamespace(name="torchvision")
    monkeypatch.setitem(sys.modules, "torchvision", tv)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", tv.datasets)
    monkeypatch.setattr(ch.importlib.util, "find_spec", lambda name: object() if name == "torchvision" else None)


def test_cifar_is_skipped_without_torchvision(monkeypatch, tmp_path):
    monkeypatch.setattr(ch.importlib.util, "find_spec", lambda name: None)
    status = ch.cifar10_status(tmp_path)
    assert not status.available and "torchvision is not installed" in str(status)
    assert "the notebook continues" in str(status)
    with pytest.raises(RuntimeError, match="torchvision"):
        ch.load_cifar10(tmp_path)
    with pytest.raises(RuntimeError, match="torchvision"):
        ch.load_cifar10(tmp_path, download=True)


def test_cifar_never_downloads_unless_asked(monkeypatch, tmp_path):
    calls = []
    _fake_torchvision(monkeypatch, calls)
    status = ch.cifar10_status(tmp_path)
    assert not status.available and "no data" in status.reason
    with pytest.raises(RuntimeError, match="no data"):
        ch.load_cifar10(tmp_path)
    assert calls == []                                                    # nothing was even constructed
    (tmp_path / "cifar-10-batches-py").mkdir()
    assert ch.cifar10_status(tmp_path).available
    x, y, x_test, y_test = ch.load_cifar10(tmp_path)
    assert calls == [False, False] and x.shape == (6, 3, 32, 32) and y.tolist() == list(range(6))
    raw = torch.as_tensor(sys.modules["torchvision.datasets"].CIFAR10(tmp_path, True, False).data)
    assert torch.allclose(x[:, 0] * 0.2023 + 0.4914, raw[..., 0].float() / 255, atol=1e-5)


def test_cifar_augment_crops_and_flips():
    gen = torch.Generator().manual_seed(0)
    batch = torch.randn(20, 3, 32, 32)
    out = ch.cifar_augment(batch, gen)
    assert out.shape == batch.shape
    padded = torch.nn.functional.pad(batch, (4, 4, 4, 4))
    flips = 0
    for i in range(20):
        crops = [padded[i, :, a:a + 32, b:b + 32] for a in range(9) for b in range(9)]
        plain = any(torch.equal(out[i], c) for c in crops)
        flipped = any(torch.equal(out[i], c.flip(-1)) for c in crops)
        assert plain or flipped
        flips += flipped and not plain
    assert 0 < flips < 20


def test_normalized_roughness_is_scale_invariant_and_matches_a_loop():
    gen = torch.Generator().manual_seed(0)
    c1 = torch.randn(5, 3, 3, 3, 3, generator=gen, dtype=torch.float64)
    c2 = torch.randn(5, 3, 3, 3, 3, generator=gen, dtype=torch.float64)
    expected = 0.0                                     # independent computation, one filter at a time
    for k in range(4):
        gap = 0.0
        for w in (c1, c2):
            a = torch.stack([w[k, c] / w[k, c].norm() for c in range(3)])
            b = torch.stack([w[k + 1, c] / w[k + 1, c].norm() for c in range(3)])
            gap += float((b - a).norm())
        expected = max(expected, gap)
    assert ch.normalized_roughness(c1, c2) == pytest.approx(5 * expected, rel=1e-10)
    scale = torch.rand(5, 3, 1, 1, 1, generator=gen, dtype=torch.float64) + 0.1          # per block and output channel
    assert ch.normalized_roughness(c1 * scale, c2 * 2 * scale) == pytest.approx(5 * expected, rel=1e-10)
    tied = c1[:1].expand(5, -1, -1, -1, -1)
    assert ch.normalized_roughness(tied * scale, tied) == pytest.approx(0.0, abs=1e-12)
    # the raw roughness does see the scales
    assert float(ch.block_norms(c1 * scale, c2)[0]) != pytest.approx(float(ch.block_norms(c1, c2)[0]))


@pytest.mark.parametrize("args, error, match", [
    ((torch.zeros(3, 2, 2, 3, 3) + 1, torch.ones(3, 2, 2, 3)), ValueError, "conv2"),
    ((torch.ones(1, 2, 2, 3, 3), torch.ones(1, 2, 2, 3, 3)), ValueError, "conv1"),
    ((torch.ones(3, 2, 2, 3, 3), torch.ones(3, 2, 2, 3, 2)), ValueError, "conv2"),
    ((torch.zeros(3, 2, 2, 3, 3), torch.ones(3, 2, 2, 3, 3)), ValueError, "conv1"),
    (([1.0], torch.ones(3, 2, 2, 3, 3)), TypeError, "conv1"),
])
def test_normalized_roughness_rejects_bad_inputs(args, error, match):
    with pytest.raises(error, match=match):
        ch.normalized_roughness(*args)
