"""Notebook 09 (``notebooks/09_real_data.ipynb``): the paper's real-data experiment (Section 5, Fig. 3,
Table 1 of Marion, Wu, Sander & Biau, ICLR 2024) brought to a laptop, offline, on scikit-learn's 8x8 digits.

* :func:`digit_split` -- the digits as images (n, 1, 8, 8) for the convolutional network and as vectors
  (n, 64) with one-hot targets for the course's fully connected ResNet, split once into train and test;
* :func:`fc_accuracy` -- test accuracy of a fully connected :class:`helpers.ResNet` (arg max of F(x));
* :func:`plot_weight_entries` -- Fig. 3's picture: chosen kernel entries of every block against layer k;
* the **checkpoint-or-train** pattern for the deep runs (L up to 256, five seeds, six settings; about half an
  hour on one CPU core): :func:`load_or_train` loads ``notebooks/checkpoints/09_digits_convnets.pt`` after
  checking its SHA-256 against the file next to it, or trains it with :func:`train_deep_runs` (the course's
  own :func:`helpers.convnet.train_convnet`) when it is missing or when asked. Regenerate it with::

      python -m helpers.chapters.ch09_real_data --regenerate

  The pieces: :data:`CONV` and :data:`DEEP` (the settings), :func:`train_deep_runs`, :func:`save_checkpoint`,
  :func:`load_checkpoint` (hash checked), :func:`sha256_of`, :func:`default_checkpoint`, :func:`main`; and to
  read the runs, :func:`run_table` (medians and quartiles over seeds, as Table 1), :func:`roughness_by_depth`,
  :func:`block_norms`, :func:`kernel_entries`;
* :func:`cifar10_status` / :func:`load_cifar10` / :func:`cifar_augment` -- the optional CIFAR-10 path: only
  when ``torchvision`` is installed and the data are already on disk (never a download unless asked).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import pathlib
import time
from dataclasses import dataclass

import numpy as np
import torch

from .. import _validation as check_arg
from ..config import progress_allowed, progress_bar
from ..convnet import ConvResNet, conv_roughness, train_convnet
from ..data import digits_data
from ..resnet import ResNet

CHECKPOINT_NAME = "09_digits_convnets.pt"
REGENERATE_COMMAND = "python -m helpers.chapters.ch09_real_data --regenerate"

# The digits setting of the convolutional network (notebook 09, Section 3), shared by the live runs and
# the checkpoint: 16 channels as the paper; a 3x3 stem of stride 2 (8x8 -> 4x4 grid); mini-batches of 64,
# momentum 0.9, weight decay 5e-4 and a cosine schedule as the paper; 10 epochs (220 steps) at step 0.05
# with the course's factor L on the residual weights (the authors' script: no factor, 180 epochs at 0.04).
CONV = dict(channels=16, stem_stride=2, epochs=10, lr=0.05, batch_size=64, L_factor=True)

# The deep runs stored in the checkpoint: Table 1's six settings at depths 4, 16, 64 with five seeds each,
# and the GELU runs at the paper's depth L = 256 with three seeds (Fig. 3). Kernel entries of every block are
# kept for the GELU runs of seed 0 at L = 64 and 256 (Fig. 3's picture), the rest as summaries.
DEEP = dict(activations=("identity", "gelu", "relu"), starts=("tied", "iid"), depths=(4, 16, 64),
            seeds=(0, 1, 2, 3, 4), paper_depth=256, paper_seeds=(0, 1, 2), entry_depths=(64, 256), n_entries=4,
            n_test=450, split_seed=0, **CONV)


# -- data ---------------------------------------------------------------------------------------------
@dataclass
class DigitSplit:
    """The digits, split once into a training and a test set.

    ``images_train`` (n, 1, 8, 8) and ``images_test`` float32 images (pixels standardised over the whole
    set, :func:`helpers.digits_data`), ``labels_train``/``labels_test`` (n,) classes 0..9 -- for the
    convolutional network; ``x_train``/``x_test`` (n, 64) and one-hot ``y_train``/``y_test`` (n, 10) in
    float64 -- the same images as vectors, for the course's fully connected ResNet; ``pixels_train``
    (n, 8, 8) the raw training images (grey levels 0..16), for display."""

    images_train: torch.Tensor
    labels_train: torch.Tensor
    images_test: torch.Tensor
    labels_test: torch.Tensor
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    pixels_train: np.ndarray

    def __str__(self) -> str:
        return (f"digits: {len(self.labels_train)} training and {len(self.labels_test)} test images of 8x8 "
                f"pixels, 10 classes")


def digit_split(n_test: int = 450, *, seed: int = 0) -> DigitSplit:
    """All 1797 digits of scikit-learn (no download), ``n_test`` of them drawn at random (``seed``) as the
    test set, the others for training. Raises TypeError/ValueError naming ``n_test`` or ``seed``.

    Example: ``data = digit_split(450, seed=0)``; ``data.images_train.shape == (1347, 1, 8, 8)``.
    """
    n_test = check_arg.positive_int("n_test", n_test)
    seed = check_arg.positive_int("seed", seed, minimum=0)
    digits = digits_data(None, seed=0)                       # all images, in the data set's order
    n = len(digits.labels)
    if n_test >= n:
        raise ValueError(f"n_test must be < {n} (the size of the digits data set), got {n_test}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    test, train = perm[:n_test].sort().values, perm[n_test:].sort().values
    images = digits.x.reshape(n, 1, 8, 8).float()
    return DigitSplit(images_train=images[train], labels_train=digits.labels[train], images_test=images[test],
                      labels_test=digits.labels[test], x_train=digits.x[train], y_train=digits.y[train],
                      x_test=digits.x[test], y_test=digits.y[test], pixels_train=digits.images[train.numpy()])


def fc_accuracy(net: ResNet, x: torch.Tensor, labels: torch.Tensor) -> float:
    """Percentage of inputs ``x`` (n, d) whose output ``F(x)`` (n, 10) is largest at the label (``labels``:
    (n,) integers): a network trained on one-hot targets by the squared loss, read as a classifier."""
    if not isinstance(net, ResNet):
        raise TypeError(f"net must be a helpers.ResNet, got {type(net).__name__}")
    out = net(x)
    if not isinstance(labels, torch.Tensor) or labels.shape != (out.shape[0],):
        raise ValueError(f"labels must be a tensor of shape ({out.shape[0]},), got "
                         f"{getattr(labels, 'shape', type(labels).__name__)}")
    return float((out.argmax(1) == labels).double().mean() * 100)


# -- Fig. 3's picture ---------------------------------------------------------------------------------
def kernel_entries(n: int, channels: int, *, seed: int = 0) -> list:
    """``n`` random kernel positions ``(out, in, row, col)`` of a (C, C, 3, 3) convolution, from ``seed``
    (the paper plots "random entries of the convolutions")."""
    n = check_arg.positive_int("n", n)
    channels = check_arg.positive_int("channels", channels)
    gen = torch.Generator().manual_seed(check_arg.positive_int("seed", seed, minimum=0))
    idx = torch.randperm(channels * channels * 9, generator=gen)[:n]
    return [tuple(int(v) for v in np.unravel_index(int(i), (channels, channels, 3, 3))) for i in idx]


def plot_weight_entries(weights, *, ax=None, entries=None, color=None, title: str = "", label: str = "conv"):
    """Fig. 3's picture: for each kernel position in ``entries``, the entry of every block against the layer
    index k = 1..L. ``weights``: a stacked kernel (L, C, C, 3, 3) (e.g. ``net.conv1_weight``) with
    ``entries`` a list of positions ``(out, in, row, col)`` -- or an (L, n_entries) array of entries already
    picked (as stored in the checkpoint), with ``entries=None``. Returns the axes."""
    values = check_arg.as_float_array("weights", weights)
    if entries is not None:
        if values.ndim != 5:
            raise ValueError(f"weights must have shape (L, C, C, 3, 3) when entries are given, got {values.shape}")
        values = np.stack([values[(slice(None), *e)] for e in entries], axis=1)
        names = [f"{label}[{','.join(map(str, e))}]" for e in entries]
    else:
        if values.ndim != 2:
            raise ValueError(f"weights must have shape (L, n_entries) without entries, got {values.shape}")
        names = [f"{label}, entry {j + 1}" for j in range(values.shape[1])]
    if ax is None:
        import matplotlib.pyplot as plt   # here, not at import: pyplot picks a GUI backend

        _, ax = plt.subplots()
    k = np.arange(1, values.shape[0] + 1)
    styles = ["-", "--", ":", "-."]
    for j, name in enumerate(names):
        ax.plot(k, values[:, j], styles[j % 4], color=color, lw=1.2, label=name)
    ax.set_xlabel("layer $k$")
    ax.set_ylabel("kernel entry")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


# -- the deep runs: checkpoint or train ----------------------------------------------------------------
def default_checkpoint() -> pathlib.Path:
    """``notebooks/checkpoints/09_digits_convnets.pt`` of the course's repository when the package runs from
    it (``pip install -e``), else ``./checkpoints/09_digits_convnets.pt`` (e.g. on Colab)."""
    repo_notebooks = pathlib.Path(__file__).resolve().parents[2] / "notebooks"
    base = repo_notebooks if repo_notebooks.is_dir() else pathlib.Path.cwd()
    return base / "checkpoints" / CHECKPOINT_NAME


def sha256_of(path) -> str:
    """The SHA-256 of a file's bytes, as hexadecimal (what ``sha256sum`` prints)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _hash_file(path: pathlib.Path) -> pathlib.Path:
    return path.with_name(path.name + ".sha256")


def train_deep_runs(settings: dict | None = None, *, progress: bool | None = None) -> dict:
    """Train every run of ``settings`` (default :data:`DEEP`) with :func:`helpers.convnet.train_convnet`
    and keep what notebook 09's figures and table need: one summary per (activation, start, L, seed) --
    final test and training accuracy (%), final training loss, ``roughness`` = L max_k ||Z_{k+1} - Z_k||
    after training (``roughness0`` before),
    the gaps ||Z_{k+1} - Z_k|| (L-1,), the relative displacement of the blocks max_k ||Z_k(T) - Z_k(0)|| /
    max_k ||Z_k(0)||, the wall time -- and, for the GELU runs of seed 0 at ``entry_depths``, the chosen
    kernel entries of every block before and after training, (L, n_entries) each.

    Returns the dictionary :func:`save_checkpoint` writes. Takes about half an hour on one CPU core.
    """
    s = dict(DEEP if settings is None else settings)
    data = digit_split(s["n_test"], seed=s["split_seed"])
    conv = {k: s[k] for k in ("epochs", "lr", "batch_size", "L_factor")}
    entries = kernel_entries(s["n_entries"], s["channels"], seed=0)
    jobs = [(a, st, L, seed) for a in s["activations"] for st in s["starts"] for L in s["depths"] for seed in s["seeds"]]
    jobs += [("gelu", st, s["paper_depth"], seed) for st in s["starts"] for seed in s["paper_seeds"]]
    runs, kept = [], {}
    bar = progress_bar(len(jobs), "deep runs") if progress_allowed(progress) else None
    start = time.perf_counter()
    try:
        for activation, st, L, seed in jobs:
            net = ConvResNet(L, channels=s["channels"], activation=activation, start=st, seed=seed,
                             stem_stride=s["stem_stride"])
            rec = train_convnet(net, data.images_train, data.labels_train, x_test=data.images_test,
                                labels_test=data.labels_test, seed=seed, progress=False, **conv)
            moved = block_norms(rec.net.conv1_weight - net.conv1_weight, rec.net.conv2_weight - net.conv2_weight)
            runs.append(dict(activation=activation, start=st, L=L, seed=seed, test_acc=rec.final_test_acc,
                             train_acc=float(rec.train_acc[-1]), train_loss=float(rec.train_loss[-1]),
                             roughness=conv_roughness(rec.net), roughness0=conv_roughness(net), gaps=rec.net.layer_gaps().float(),
                             moved=float(moved.max() / block_norms(net.conv1_weight, net.conv2_weight).max()),
                             wall_time=rec.wall_time))
            if activation == "gelu" and seed == 0 and L in s["entry_depths"]:
                kept[f"gelu/{st}/{L}"] = {
                    name: torch.stack([w.detach()[(slice(None), *e)] for e in entries], dim=1).float()
                    for name, w in (("conv1", rec.net.conv1_weight), ("conv2", rec.net.conv2_weight),
                                    ("conv1_init", net.conv1_weight), ("conv2_init", net.conv2_weight))}
            if bar is not None:
                bar.update(1)
                bar.set_postfix(last=f"{activation} {st} L={L} seed={seed}: {rec.final_test_acc:.1f}%")
    finally:
        if bar is not None:
            bar.close()
    return dict(format=1, settings={k: (list(v) if isinstance(v, tuple) else v) for k, v in s.items()},
                entries=[list(e) for e in entries], runs=runs, weights=kept, command=REGENERATE_COMMAND,
                torch=str(torch.__version__), wall_time=time.perf_counter() - start)


def block_norms(conv1: torch.Tensor, conv2: torch.Tensor) -> torch.Tensor:
    """``||conv_{1,k}||_F + ||conv_{2,k}||_F`` for every block k, shape (L,)."""
    return (torch.linalg.vector_norm(conv1.detach().flatten(1), dim=1)
            + torch.linalg.vector_norm(conv2.detach().flatten(1), dim=1))


def normalized_roughness(conv1: torch.Tensor, conv2: torch.Tensor) -> float:
    """Scale-invariant roughness: eq. (9.3) computed on per-channel unit-norm filters.

    Each output channel c of ``conv_{i,k}`` feeds a batch norm, which divides by the channel's standard
    deviation: rescaling the filter ``K[c] = conv_{i,k}[c]`` (shape (C_in, 3, 3)) by any a > 0 changes nothing
    the network computes (in training mode; the bias, also followed by bn, has no effect either). So the raw
    roughness (9.3) partly measures filter scales that weight decay moves and the loss does not see. Here
    every filter is first replaced by ``K[c] / ||K[c]||_F``; then
    ``rho_n = L max_k (||conv~_{1,k+1} - conv~_{1,k}||_F + ||conv~_{2,k+1} - conv~_{2,k}||_F)``.

    conv1, conv2: kernels of shape (L, C, C, kh, kw) (``net.conv1_weight``, ``net.conv2_weight``), L >= 2.
    Returns a float; 0 for identical blocks (a tied start), and the same value after any per-channel
    positive rescaling of the filters. Raises ValueError (naming the argument) for other shapes, TypeError
    for non-tensors, ValueError for an all-zero filter (its direction is undefined)."""
    conv1 = check_arg.tensor("conv1", conv1, ndim=5)
    conv2 = check_arg.tensor("conv2", conv2, ndim=5)
    if conv1.shape != conv2.shape:
        raise ValueError(f"conv2 must have the shape of conv1 {tuple(conv1.shape)}, got {tuple(conv2.shape)}")
    if conv1.shape[0] < 2:
        raise ValueError(f"conv1 needs at least 2 blocks (L >= 2), got L = {conv1.shape[0]}")
    L = conv1.shape[0]
    gaps = torch.zeros(L - 1, dtype=torch.float64)
    for name, w in (("conv1", conv1), ("conv2", conv2)):
        w = w.detach().double().flatten(2)                                   # (L, C_out, C_in * kh * kw)
        norms = torch.linalg.vector_norm(w, dim=2, keepdim=True)
        if bool((norms == 0).any()):
            raise ValueError(f"{name} has an all-zero filter: its direction (and rho_n) is undefined")
        u = w / norms
        gaps += torch.linalg.vector_norm((u[1:] - u[:-1]).flatten(1), dim=1)
    return float(L * gaps.max())


def save_checkpoint(results: dict, path) -> str:
    """Write ``results`` (from :func:`train_deep_runs`) to ``path`` with ``torch.save`` and its SHA-256 to
    ``path + ".sha256"`` (the format of ``sha256sum``, so ``sha256sum -c`` checks it too); return the hash."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(results, path)
    digest = sha256_of(path)
    _hash_file(path).write_text(f"{digest}  {path.name}\n")
    return digest


def load_checkpoint(path) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` after checking its SHA-256 against the file
    ``path + ".sha256"``; ``torch.load(weights_only=True)`` (tensors, numbers, strings only: no code runs).

    Raises FileNotFoundError when the file or its hash is missing, and ValueError when the hash differs
    (a damaged file, a Git LFS pointer, or a checkpoint changed by hand): regenerate it."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; create it with: {REGENERATE_COMMAND}")
    hash_file = _hash_file(path)
    if not hash_file.is_file():
        raise FileNotFoundError(f"the checkpoint {path} has no hash file {hash_file.name} next to it, so it "
                                f"cannot be checked; regenerate both with: {REGENERATE_COMMAND}")
    expected = hash_file.read_text().split()[0]
    actual = sha256_of(path)
    if actual != expected:
        raise ValueError(f"the checkpoint {path} has SHA-256 {actual[:16]}..., but {hash_file.name} says "
                         f"{expected[:16]}...: the file is damaged or was changed; regenerate it with: "
                         f"{REGENERATE_COMMAND}")
    return torch.load(path, weights_only=True)


def load_or_train(path=None, *, regenerate: bool = False, settings: dict | None = None,
                  progress: bool | None = None) -> dict:
    """The checkpoint-or-train pattern: load the deep runs from ``path`` (default :func:`default_checkpoint`)
    after checking its hash, or -- when the file is missing or ``regenerate=True`` -- train them with
    :func:`train_deep_runs` (about half an hour on one CPU core), save them with their hash, and return
    them. Prints one line saying which happened."""
    path = default_checkpoint() if path is None else pathlib.Path(path)
    if not isinstance(regenerate, bool):
        raise TypeError(f"regenerate must be True or False, got {regenerate!r}")
    if path.is_file() and not regenerate:
        results = load_checkpoint(path)
        print(f"loaded {path.name} (SHA-256 {sha256_of(path)[:12]}... checked): {len(results['runs'])} runs "
              f"trained by train_convnet in {results['wall_time'] / 60:.0f} min, torch {results['torch']}")
        return results
    print(f"{'regenerating' if path.is_file() else 'no checkpoint at ' + str(path) + ': training'} the deep runs "
          f"(about half an hour on one CPU core) ...")
    results = train_deep_runs(settings, progress=progress)
    digest = save_checkpoint(results, path)
    print(f"saved {path} (SHA-256 {digest[:12]}...) after {results['wall_time'] / 60:.1f} min")
    return results


def run_table(results: dict, *, L: int | None = None, key: str = "test_acc") -> dict:
    """From the checkpoint's runs, ``{(activation, start): (median, first quartile, third quartile, n_runs)}``
    of ``key`` (``"test_acc"``, ``"train_acc"``, ``"roughness"``, ...) over the seeds at depth ``L`` (default:
    the largest depth that has every seed). The paper's Table 1 reports the median over 5 runs and the
    quartiles."""
    runs = results["runs"]
    if L is None:
        L = max(results["settings"]["depths"])
    table = {}
    for a in results["settings"]["activations"]:
        for st in results["settings"]["starts"]:
            v = np.array([r[key] for r in runs if r["activation"] == a and r["start"] == st and r["L"] == L])
            if v.size:
                table[a, st] = (float(np.median(v)), float(np.quantile(v, 0.25)), float(np.quantile(v, 0.75)), v.size)
    if not table:
        raise ValueError(f"no runs at depth L = {L} in this checkpoint")
    return table


def roughness_by_depth(results: dict, activation: str, start: str) -> tuple:
    """``(depths, median roughness over the seeds, number of seeds)`` of one setting, depths increasing."""
    runs = [r for r in results["runs"] if r["activation"] == activation and r["start"] == start]
    depths = sorted({r["L"] for r in runs})
    med = [float(np.median([r["roughness"] for r in runs if r["L"] == L])) for L in depths]
    counts = [sum(r["L"] == L for r in runs) for L in depths]
    return np.array(depths), np.array(med), counts


# -- the optional CIFAR-10 path -----------------------------------------------------------------------
@dataclass
class CifarStatus:
    """Whether the paper's CIFAR-10 setting can run here: ``available``, and why not (``reason``)."""

    available: bool
    reason: str

    def __str__(self) -> str:
        return ("CIFAR-10 found: the paper's setting can run below (set RUN_CIFAR = True)" if self.available
                else f"CIFAR-10 not available here ({self.reason}): skipped, the notebook continues with the digits")


def cifar10_status(root="data") -> CifarStatus:
    """Check, without downloading anything, whether ``torchvision`` is installed and the CIFAR-10 files are
    already under ``root`` (``root/cifar-10-batches-py``, as ``torchvision.datasets.CIFAR10`` stores them)."""
    if importlib.util.find_spec("torchvision") is None:
        return CifarStatus(False, "torchvision is not installed")
    folder = pathlib.Path(root) / "cifar-10-batches-py"
    if not folder.is_dir():
        return CifarStatus(False, f"no data in {folder}; load_cifar10(root, download=True) fetches them")
    return CifarStatus(True, "")


def load_cifar10(root="data", *, download: bool = False, device=None) -> tuple:
    """CIFAR-10 as tensors ``(x_train (50000, 3, 32, 32), labels_train, x_test (10000, 3, 32, 32),
    labels_test)``, normalised per channel with the authors' means and standard deviations. Downloads only
    with ``download=True``; raises RuntimeError saying what is missing otherwise."""
    status = cifar10_status(root)
    if not status.available and (not download or importlib.util.find_spec("torchvision") is None):
        raise RuntimeError(f"CIFAR-10 is not available: {status.reason}")
    datasets = importlib.import_module("torchvision.datasets")     # optional dependency
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
    std = torch.tensor([0.2023, 0.1994, 0.2010]).view(1, 3, 1, 1)
    out = []
    for train in (True, False):
        ds = datasets.CIFAR10(root=str(root), train=train, download=download)
        x = torch.as_tensor(np.asarray(ds.data)).permute(0, 3, 1, 2).float().div(255)
        out += [((x - mean) / std).to(device), torch.as_tensor(ds.targets).to(device)]
    return tuple(out)


def cifar_augment(batch: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """The authors' augmentation, on a batch (n, 3, 32, 32): a random 32x32 crop of the image padded by 4
    zeros, and a horizontal flip with probability 1/2 (one draw per image from ``gen``)."""
    n, _, h, w = batch.shape
    padded = torch.nn.functional.pad(batch, (4, 4, 4, 4))
    dy = torch.randint(0, 9, (n,), generator=gen)
    dx = torch.randint(0, 9, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    rows = (dy[:, None] + torch.arange(h)).to(batch.device)
    cols = (dx[:, None] + torch.arange(w)).to(batch.device)
    cols = torch.where(flip.to(batch.device)[:, None], cols.flip(1), cols)
    idx = torch.arange(n, device=batch.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[idx, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


# -- command line ---------------------------------------------------------------------------------------
def main(argv=None) -> None:
    """``python -m helpers.chapters.ch09_real_data --regenerate [--path FILE]``: retrain the deep runs and
    rewrite the checkpoint and its hash; without ``--regenerate``, load and check it."""
    parser = argparse.ArgumentParser(prog="python -m helpers.chapters.ch09_real_data",
                                     description="Notebook 09's checkpoint of deep convolutional runs on the digits.")
    parser.add_argument("--regenerate", action="store_true", help="retrain every run (about half an hour)")
    parser.add_argument("--path", default=None, help=f"checkpoint file (default: {default_checkpoint()})")
    args = parser.parse_args(argv)
    results = load_or_train(args.path, regenerate=args.regenerate)
    table = run_table(results)
    for (a, st), (med, q1, q3, n) in table.items():
        print(f"{a:>8} {st:>4}: median test accuracy {med:.1f}% (quartiles {q1:.1f}-{q3:.1f}, {n} runs)")


if __name__ == "__main__":
    main()
