"""A convolutional residual network in the form of the paper's real-data experiment (Section 5, Fig. 3,
Table 1; appendix "Experimental details"), and its training by mini-batch SGD (notebook 09).

The network, for images ``x`` of shape ``(n, c_in, H, W)``::

    h_0     = relu(bn_0(conv_0(x)))                                    the stem (plays the role of A)
    h_{k+1} = h_k + (1/L) bn_{2,k+1}(conv_{2,k+1}(sigma(bn_{1,k+1}(conv_{1,k+1}(h_k))))),   k = 0..L-1
    F(x)    = B mean_{pixels}(h_L) + b                                  global average pooling, linear head

with ``C`` channels everywhere after the stem, 3x3 convolutions (stride 1, padding 1: every h_k has the
shape ``(n, C, H', W')``), sigma the identity, ReLU or GELU (Table 1; or tanh), and ``bn`` batch normalisation (optional).
Block k's weights are ``Z_k = (conv_{1,k}, conv_{2,k})``, stacked over depth as tensors of shape
``(L, C, C, 3, 3)`` -- the analogue of the course's ``V`` (L, q, m) and ``W`` (L, m, q).

Initialisation, as the authors' code (``implicit_regularization_resnets_nodes/resnet.py``): PyTorch's default
for the convolutions (uniform, bound ``1/sqrt(9 C)``; the paper's text says Gaussian), ``bn_1`` weight 1 and
bias 0, and **bn_2's weight and bias 0**, so every block starts as the zero map and ``h_L = h_0``. Start
``"tied"`` copies block 1 into every block (the paper's weight-tied start); ``"iid"`` draws every block
independently. Without batch norm, ``conv_2`` starts at zero instead.

Training (:func:`train_convnet`) follows the authors' ``train_tiny.py``: cross-entropy, SGD with momentum 0.9
and weight decay 5e-4 on every weight, a cosine schedule over the epochs. **Their script does not multiply
the residual weights' step by L**, unlike the course's gradient flow eq. (4) (``dZ_k/dt = -L dloss/dZ_k``,
:func:`helpers.train`); ``train_convnet`` does by default (``L_factor=True``), ``L_factor=False`` is theirs. None of this is covered by the paper's theory (convolutions,
batch norm, SGD, momentum, weight decay, cross-entropy, ReLU): the experiment illustrates it.

* :class:`ConvResNet` -- the network (``residual_weights()``, ``layer_gaps()``, ``accuracy()``);
* :func:`train_convnet` -- mini-batch SGD; returns a :class:`ConvTrainRecord`;
* :func:`conv_roughness` -- ``L max_k ||Z_{k+1} - Z_k||``, bounded in L for weights that discretize a
  Lipschitz function of depth, growing like L for i.i.d. weights.
"""
from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import _validation as check_arg
from .activations import get_activation
from .config import get_device, num_threads, progress_allowed, progress_bar
from .metrics import layer_gaps
from .train import TrainingDivergedError

STARTS = ("tied", "iid")


class ConvResNet(nn.Module):
    """The convolutional ResNet of the paper's Section 5 (module docstring), depth ``L``, ``channels`` = C.

    Parameters (keywords after ``L``)
    ----------
    channels : C, the number of channels of every hidden state h_k (the paper: 16).
    activation : sigma, ``"identity"``, ``"relu"`` or ``"gelu"`` (Table 1's three), or ``"tanh"``.
    start : ``"tied"`` (every block a copy of block 1) or ``"iid"`` (independent blocks).
    seed : seed of the initialisation (explicit: two networks with one seed are identical).
    batch_norm : with ``bn_1``, ``bn_2`` in every block and ``bn_0`` in the stem (the paper), or without.
    in_channels, num_classes : 1 and 10 for the 8x8 digits, 3 and 10 for CIFAR-10.
    stem_kernel, stem_stride, stem_padding : the stem convolution (the authors' CIFAR-10 code: 5, 3, 1 --
        the paper's appendix says stride 2;
        for 8x8 digits 3, 1, 1 keeps the 8x8 grid).

    Attributes ``conv1_weight``, ``conv2_weight`` (L, C, C, 3, 3), ``conv1_bias``, ``conv2_bias`` (L, C),
    ``bn1_weight``, ``bn1_bias``, ``bn2_weight``, ``bn2_bias`` (L, C): the blocks' weights stacked over depth
    (block k = 1..L is index k-1), as the course's ``V`` and ``W``.

    Raises TypeError/ValueError naming the argument for a bad depth, width, activation, start or seed.

    Example
    -------
    >>> net = ConvResNet(8, channels=4, activation="gelu", start="tied", seed=0)
    >>> net(torch.randn(5, 1, 8, 8)).shape
    torch.Size([5, 10])
    >>> conv_roughness(net)          # tied start: all blocks equal
    0.0
    """

    def __init__(self, L: int, *, channels: int = 16, activation: str = "gelu", start: str = "tied", seed: int,
                 batch_norm: bool = True, in_channels: int = 1, num_classes: int = 10, stem_kernel: int = 3,
                 stem_stride: int = 1, stem_padding: int = 1):
        super().__init__()
        L = check_arg.positive_int("L", L)
        C = check_arg.positive_int("channels", channels)
        self.activation = get_activation(activation).name      # validates the name
        self.start = check_arg.choice("start", start, STARTS)
        self.seed = check_arg.positive_int("seed", seed, minimum=0)
        if not isinstance(batch_norm, bool):
            raise TypeError(f"batch_norm must be True or False, got {batch_norm!r}")
        self.batch_norm = batch_norm
        in_channels = check_arg.positive_int("in_channels", in_channels)
        num_classes = check_arg.positive_int("num_classes", num_classes, minimum=2)
        self.stem_stride = check_arg.positive_int("stem_stride", stem_stride)
        self.stem_padding = check_arg.positive_int("stem_padding", stem_padding, minimum=0)
        stem_kernel = check_arg.positive_int("stem_kernel", stem_kernel)
        self.L, self.channels = L, C

        gen = torch.Generator().manual_seed(self.seed)
        self.stem_weight = nn.Parameter(_conv_init((C, in_channels, stem_kernel, stem_kernel), gen))
        n_draws = 1 if start == "tied" else L
        shape = (n_draws, C, C, 3, 3)
        conv1_w, conv1_b = _conv_init(shape, gen), _conv_init((n_draws, C), gen, fan_in=9 * C)
        conv2_w, conv2_b = _conv_init(shape, gen), _conv_init((n_draws, C), gen, fan_in=9 * C)
        if not batch_norm:            # the authors' no-bn variant: the second convolution starts at zero
            conv2_w, conv2_b = torch.zeros_like(conv2_w), torch.zeros_like(conv2_b)
        expand = (lambda t: t.expand(L, *t.shape[1:]).clone()) if start == "tied" else (lambda t: t)
        self.conv1_weight, self.conv1_bias = nn.Parameter(expand(conv1_w)), nn.Parameter(expand(conv1_b))
        self.conv2_weight, self.conv2_bias = nn.Parameter(expand(conv2_w)), nn.Parameter(expand(conv2_b))
        if batch_norm:
            self.stem_bn_weight, self.stem_bn_bias = nn.Parameter(torch.ones(C)), nn.Parameter(torch.zeros(C))
            self.bn1_weight, self.bn1_bias = nn.Parameter(torch.ones(L, C)), nn.Parameter(torch.zeros(L, C))
            self.bn2_weight, self.bn2_bias = nn.Parameter(torch.zeros(L, C)), nn.Parameter(torch.zeros(L, C))
            # running statistics of every batch norm (used in evaluation mode): slot 0 the stem,
            # slots 1..L the blocks' bn_1, slots L+1..2L their bn_2
            self.register_buffer("running_mean", torch.zeros(2 * L + 1, C))
            self.register_buffer("running_var", torch.ones(2 * L + 1, C))
        self.head = nn.Linear(C, num_classes)
        with torch.no_grad():         # PyTorch's default init of nn.Linear, from the seeded generator
            self.head.weight.copy_(_conv_init(self.head.weight.shape, gen))
            self.head.bias.copy_(_conv_init(self.head.bias.shape, gen, fan_in=C))

    # -- forward pass -----------------------------------------------------------------------------
    def _bn(self, h, slot: int, weight, bias):
        if not self.batch_norm:
            return h
        return F.batch_norm(h, self.running_mean[slot], self.running_var[slot], weight, bias,
                            training=self.training, momentum=0.1, eps=1e-5)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """``h_0 = relu(bn_0(conv_0(x)))``, shape (n, C, H', W')."""
        h = F.conv2d(x, self.stem_weight, stride=self.stem_stride, padding=self.stem_padding)
        if self.batch_norm:
            h = self._bn(h, 0, self.stem_bn_weight, self.stem_bn_bias)
        return F.relu(h)

    def forward(self, x: torch.Tensor, return_states: bool = False):
        """Logits ``F(x)`` of shape (n, num_classes) for images ``x`` (n, c_in, H, W); with
        ``return_states`` also the hidden states h_0..h_L stacked as (L+1, n, C, H', W').
        Raises TypeError/ValueError naming ``x`` for a wrong shape, dtype or device."""
        self._check_images(x)
        return self._forward(x, return_states)

    def _forward(self, x, return_states=False):
        sigma, L, bn = get_activation(self.activation), self.L, self.batch_norm
        h = self.stem(x)
        states = [h] if return_states else None
        for k in range(L):
            r = F.conv2d(h, self.conv1_weight[k], self.conv1_bias[k], padding=1)
            r = sigma(self._bn(r, 1 + k, self.bn1_weight[k], self.bn1_bias[k]) if bn else r)
            r = F.conv2d(r, self.conv2_weight[k], self.conv2_bias[k], padding=1)
            r = self._bn(r, 1 + L + k, self.bn2_weight[k], self.bn2_bias[k]) if bn else r
            h = h + r / L
            if return_states:
                states.append(h)
        out = self.head(h.mean(dim=(2, 3)))
        return (out, torch.stack(states)) if return_states else out

    def _check_images(self, x, name: str = "x", same_device: bool = True):
        check_arg.tensor(name, x, ndim=4)
        c_in = self.stem_weight.shape[1]
        if x.shape[1] != c_in:
            raise ValueError(f"{name} must have shape (n, {c_in}, H, W) ({c_in} channel(s)), got {tuple(x.shape)}")
        if x.shape[0] == 0:
            raise ValueError(f"{name} must hold at least one image, got shape {tuple(x.shape)}")
        if x.dtype != self.stem_weight.dtype:
            raise TypeError(f"{name} has dtype {x.dtype} but the network's weights are {self.stem_weight.dtype}; "
                            f"convert it with {name}.to({self.stem_weight.dtype})")
        if same_device and x.device != self.stem_weight.device:
            raise ValueError(f"{name} is on {x.device} but the network is on {self.stem_weight.device}; "
                             f"move it with {name}.to(net.stem_weight.device)")
        return x

    # -- measurements -----------------------------------------------------------------------------
    def residual_weights(self) -> dict:
        """The blocks' weights stacked over depth (detached copies): ``"conv1"``, ``"conv2"`` of shape
        (L, C, C, 3, 3); ``"conv1_bias"``, ``"conv2_bias"`` and, with batch norm, ``"bn1_weight"``,
        ``"bn1_bias"``, ``"bn2_weight"``, ``"bn2_bias"`` of shape (L, C). Block k = 1..L is index k-1."""
        names = ["conv1", "conv2", "conv1_bias", "conv2_bias"]
        names += ["bn1_weight", "bn1_bias", "bn2_weight", "bn2_bias"] if self.batch_norm else []
        return {name: getattr(self, name if "_" in name else name + "_weight").detach().cpu().clone()
                for name in names}

    def layer_gaps(self) -> torch.Tensor:
        """``||Z_{k+1} - Z_k|| = ||conv_{1,k+1} - conv_{1,k}||_F + ||conv_{2,k+1} - conv_{2,k}||_F`` for
        k = 1..L-1, shape (L-1,): the paper's ``||Z_k||_F`` (sum of Frobenius norms, its Section 3) with
        ``Z_k = (conv_{1,k}, conv_{2,k})``, each kernel flattened to a (C, 9C) matrix."""
        with torch.no_grad():
            return layer_gaps(self.conv1_weight.detach().flatten(2).double().cpu(),
                              self.conv2_weight.detach().flatten(2).double().cpu())

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, labels: torch.Tensor, batch_size: int = 500) -> float:
        """Percentage of images ``x`` (n, c_in, H, W) whose largest logit is the label (``labels``: (n,)
        integers), in evaluation mode (batch norm uses its running statistics); the mode is restored."""
        self._check_images(x)
        labels = _check_labels("labels", labels, x.shape[0], self.head.out_features)
        batch_size = check_arg.positive_int("batch_size", batch_size)
        was_training = self.training
        self.eval()
        try:
            correct = sum(int((self(x[i:i + batch_size]).argmax(1) == labels[i:i + batch_size].to(x.device)).sum())
                          for i in range(0, x.shape[0], batch_size))
        finally:
            self.train(was_training)
        return 100.0 * correct / x.shape[0]


def _conv_init(shape, gen: torch.Generator, fan_in: int | None = None) -> torch.Tensor:
    """PyTorch's default initialisation of a convolution or linear weight (kaiming-uniform with a = sqrt(5),
    i.e. uniform on [-1/sqrt(fan_in), 1/sqrt(fan_in)]), drawn from ``gen``; ``shape[1:]`` gives the fan-in
    of a weight (after a leading depth axis for stacked weights of 5 dimensions)."""
    if fan_in is None:
        fan_in = math.prod(shape[2:] if len(shape) == 5 else shape[1:])
    bound = 1.0 / math.sqrt(fan_in)
    return (torch.rand(shape, generator=gen, dtype=torch.float32) * 2 - 1) * bound


def _check_labels(name: str, labels, n: int, num_classes: int) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor) or labels.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise TypeError(f"{name} must be an integer tensor of class indices, got "
                        f"{type(labels).__name__}{'' if not isinstance(labels, torch.Tensor) else ' of ' + str(labels.dtype)}")
    if labels.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one class per image, got {tuple(labels.shape)}")
    if n and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"{name} must lie in 0..{num_classes - 1}, got values in "
                         f"{int(labels.min())}..{int(labels.max())}")
    return labels.long()


def conv_roughness(net: ConvResNet) -> float:
    """``L * max_k ||Z_{k+1} - Z_k||`` (see :meth:`ConvResNet.layer_gaps`): bounded as L grows when the
    blocks discretize a Lipschitz function of depth s = k/L (differences O(1/L), Prop. 2's setting), of
    order L for i.i.d. blocks; 0 for a tied start before training and for L = 1.

    Example: ``conv_roughness(ConvResNet(4, start="iid", seed=0))`` is about 28: neighbouring kernels of
    16 channels, entries uniform with variance 1/432, differ by about sqrt(2 x 16 / 3) = 3.3 each, so
    ``||Z_{k+1} - Z_k||`` is about 6.5 and its maximum over three pairs about 7.
    """
    if not isinstance(net, ConvResNet):
        raise TypeError(f"net must be a ConvResNet, got {type(net).__name__}")
    gaps = net.layer_gaps()
    return float(net.L * gaps.max()) if gaps.numel() else 0.0


@contextlib.contextmanager
def _flush_denormals():
    """Treat subnormal floats as zero during the block, then restore the previous setting.

    A tied start with bn_2 at zero makes many tiny gradients, whose products underflow into subnormal
    floats; on x86 CPUs each operation on a subnormal costs ~100 cycles (a 10x slower training was
    measured). ``torch.set_flush_denormal`` has no getter: the previous mode is read by a probe."""
    tiny = torch.tensor([1e-39], dtype=torch.float32)          # subnormal in float32
    before = bool((tiny * 1.0).item() == 0.0)
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)


@dataclass
class ConvTrainRecord:
    """What :func:`train_convnet` measured, one value per epoch ``e = 1..epochs``.

    ``train_loss`` and ``train_acc``: mean cross-entropy and accuracy (%) over the epoch's mini-batches
    (training mode); ``test_acc``: accuracy (%) on the test set after the epoch (evaluation mode), or
    ``None`` without test data; ``lr``: the step of the epoch (cosine schedule)."""

    net: ConvResNet
    lr: np.ndarray
    train_loss: np.ndarray
    train_acc: np.ndarray
    test_acc: np.ndarray | None
    L_factor: bool
    seed: int
    wall_time: float = 0.0

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    @property
    def final_test_acc(self) -> float:
        """Test accuracy (%) after the last epoch (the paper's Table 1 reports the final networks)."""
        if self.test_acc is None:
            raise ValueError("this run had no test data: pass x_test and labels_test to train_convnet")
        return float(self.test_acc[-1])


def train_convnet(net: ConvResNet, x: torch.Tensor, labels: torch.Tensor, *, epochs: int, lr: float, seed: int,
                  x_test: torch.Tensor | None = None, labels_test: torch.Tensor | None = None,
                  batch_size: int = 64, momentum: float = 0.9, weight_decay: float = 5e-4,
                  L_factor: bool = True, augment=None, device=None,
                  progress: bool | None = None, threads="auto") -> ConvTrainRecord:
    """Train a copy of ``net`` by mini-batch SGD on the cross-entropy, as the authors' ``train_tiny.py``.

    Each epoch visits the ``n`` training images ``x`` (n, c_in, H, W) (labels (n,)) once in a random order
    (drawn from ``seed``), in mini-batches of ``batch_size``; the step of epoch e = 0..epochs-1 follows the
    cosine schedule ``lr_e = lr (1 + cos(pi e / epochs)) / 2`` (PyTorch's ``CosineAnnealingLR`` stepped
    once per epoch). SGD with ``momentum`` and ``weight_decay`` on every weight (0.9 and 5e-4: the authors' ``train_tiny.py``;
    the paper's appendix gives only SGD, cross-entropy, 180 epochs, step 4e-2 and the cosine schedule).

    ``L_factor``: ``True`` (default) multiplies the residual weights' step by L (and with it their weight decay), as the course's gradient
    flow eq. (4) and :func:`helpers.train`; ``False`` gives every weight the same step, as the authors'
    ``train_tiny.py`` -- which does **not** multiply the residual weights' step by L. ``augment``: an optional function ``(batch, generator) -> batch`` applied to
    each training batch (e.g. random crops and flips for CIFAR-10; none for the digits). ``device``: where
    to train (``"cuda"`` where available); the returned network stays there, in evaluation mode.

    Subnormal floats are flushed to zero during the call (:func:`_flush_denormals`; a tied start with
    zero-initialised bn_2 otherwise runs ~10x slower on a CPU) and the previous mode restored afterwards.
    A progress bar (``helpers.config.progress_bar``; never with ``COURSE_PROGRESS=0``) shows the epoch's
    loss and accuracy. ``threads``: intra-op threads on the CPU; ``"auto"`` uses one (the convolutions of
    the digits are so small that threads cost more than they save: 10x slower with two threads on a busy
    2-core machine, measured), ``None`` keeps torch's setting. Raises TypeError/ValueError naming the
    argument for bad inputs, and :class:`helpers.TrainingDivergedError` when the loss becomes NaN or
    infinite (a step too large).

    Returns a :class:`ConvTrainRecord` whose ``net`` is the trained copy (``net`` itself is untouched).

    Example
    -------
    >>> rec = train_convnet(ConvResNet(4, channels=4, seed=0), x, labels, epochs=2, lr=0.05, seed=0)
    >>> rec.train_loss.shape
    (2,)
    """
    if not isinstance(net, ConvResNet):
        raise TypeError(f"net must be a ConvResNet, got {type(net).__name__}")
    epochs = check_arg.positive_int("epochs", epochs)
    lr = check_arg.positive_float("lr", lr)
    seed = check_arg.positive_int("seed", seed, minimum=0)
    batch_size = check_arg.positive_int("batch_size", batch_size, minimum=2)
    momentum = check_arg.positive_float("momentum", momentum, allow_zero=True)
    if momentum >= 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    weight_decay = check_arg.positive_float("weight_decay", weight_decay, allow_zero=True)
    if augment is not None and not callable(augment):
        raise TypeError(f"augment must be a function (batch, generator) -> batch or None, got {augment!r}")
    device = get_device(device) if device is not None else net.stem_weight.device
    net._check_images(x, "x", same_device=False)
    labels = _check_labels("labels", labels, x.shape[0], net.head.out_features)
    if (x_test is None) != (labels_test is None):
        raise ValueError("x_test and labels_test go together: give both or neither")
    if x_test is not None:
        net._check_images(x_test, "x_test", same_device=False)
        labels_test = _check_labels("labels_test", labels_test, x_test.shape[0], net.head.out_features)

    net = _copy(net).to(device)
    x, labels = x.to(device), labels.to(device)
    if x_test is not None:
        x_test, labels_test = x_test.to(device), labels_test.to(device)
    residual = [p for name, p in net.named_parameters() if name.startswith(("conv1", "conv2", "bn1", "bn2"))]
    others = [p for name, p in net.named_parameters() if not name.startswith(("conv1", "conv2", "bn1", "bn2"))]
    factor = net.L if L_factor else 1
    opt = torch.optim.SGD([dict(params=others, lr=lr), dict(params=residual, lr=lr * factor)],
                          lr=lr, momentum=momentum, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    n_batches = math.ceil(n / batch_size)
    lrs, losses, accs = np.empty(epochs), np.empty(epochs), np.empty(epochs)
    test_acc = np.empty(epochs) if x_test is not None else None

    if threads == "auto":
        threads = 1 if device.type == "cpu" else None
    bar = progress_bar(epochs * n_batches, f"training L={net.L}") if progress_allowed(progress) else None
    start = time.perf_counter()
    try:
        with _flush_denormals(), num_threads(threads):
            for e in range(epochs):
                lrs[e] = lr * (1 + math.cos(math.pi * e / epochs)) / 2
                opt.param_groups[0]["lr"], opt.param_groups[1]["lr"] = lrs[e], lrs[e] * factor
                net.train()
                order = torch.randperm(n, generator=gen).to(device)
                total_loss, correct = 0.0, 0
                for b in range(n_batches):
                    idx = order[b * batch_size:(b + 1) * batch_size]
                    if idx.numel() < 2:                 # batch norm needs two images
                        continue
                    xb, yb = x[idx], labels[idx]
                    if augment is not None:
                        xb = augment(xb, gen)
                    logits = net._forward(xb)
                    loss = F.cross_entropy(logits, yb)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    value = loss.detach().item()
                    if not math.isfinite(value):
                        raise TrainingDivergedError(
                            f"training diverged in epoch {e + 1}: loss = {value}; the step lr = {lr:g} is too "
                            f"large for this network, try lr = {lr / 10:g}")
                    total_loss += value * idx.numel()
                    correct += int((logits.argmax(1) == yb).sum())
                    if bar is not None:
                        bar.update(1)
                losses[e], accs[e] = total_loss / n, 100.0 * correct / n
                if x_test is not None:
                    test_acc[e] = net.accuracy(x_test, labels_test)
                if bar is not None:
                    bar.set_postfix(epoch=e + 1, loss=f"{losses[e]:.3f}", acc=f"{accs[e]:.1f}%",
                                    **({} if test_acc is None else {"test": f"{test_acc[e]:.1f}%"}))
    finally:
        if bar is not None:
            bar.close()
    net.eval()
    return ConvTrainRecord(net=net, lr=lrs, train_loss=losses, train_acc=accs, test_acc=test_acc,
                           L_factor=bool(L_factor), seed=seed, wall_time=time.perf_counter() - start)


def _copy(net: ConvResNet) -> ConvResNet:
    """A deep copy of ``net`` (same weights, buffers and settings)."""
    return copy.deepcopy(net)
