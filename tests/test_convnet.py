"""The convolutional ResNet of the paper's Section 5 (helpers/convnet.py): its forward pass against an
independent build from torch.nn modules (the authors' layout), its starts, its measurements, and its
training loop against a hand-written SGD step."""
import math

import numpy as np
import pytest
import torch
from torch import nn

import helpers.convnet as cn
from helpers.convnet import ConvResNet, conv_roughness, train_convnet
from helpers.train import TrainingDivergedError


def _images(n=12, seed=0, size=8, channels=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, channels, size, size, generator=gen), torch.randint(0, 10, (n,), generator=gen)


def _reference(net: ConvResNet):
    """The same network from torch.nn modules, as the authors' ``iTinyResnet`` (one module per block),
    with the weights copied from ``net``; returns a function x -> logits."""
    C, L = net.channels, net.L
    stem = nn.Conv2d(1, C, 3, stride=net.stem_stride, padding=1, bias=False)
    stem_bn = nn.BatchNorm2d(C)
    blocks = []
    with torch.no_grad():
        stem.weight.copy_(net.stem_weight)
        stem_bn.weight.copy_(net.stem_bn_weight)
        stem_bn.bias.copy_(net.stem_bn_bias)
        for k in range(L):
            c1, c2, b1, b2 = nn.Conv2d(C, C, 3, padding=1), nn.Conv2d(C, C, 3, padding=1), nn.BatchNorm2d(C), nn.BatchNorm2d(C)
            c1.weight.copy_(net.conv1_weight[k]); c1.bias.copy_(net.conv1_bias[k])
            c2.weight.copy_(net.conv2_weight[k]); c2.bias.copy_(net.conv2_bias[k])
            b1.weight.copy_(net.bn1_weight[k]); b1.bias.copy_(net.bn1_bias[k])
            b2.weight.copy_(net.bn2_weight[k]); b2.bias.copy_(net.bn2_bias[k])
            blocks.append((c1, b1, c2, b2))
    sigma = {"gelu": nn.GELU(), "relu": nn.ReLU(), "identity": nn.Identity(), "tanh": nn.Tanh()}[net.activation]
    head = nn.Linear(C, 10)
    with torch.no_grad():
        head.weight.copy_(net.head.weight); head.bias.copy_(net.head.bias)
    modules = nn.ModuleList([stem, stem_bn, head] + [m for b in blocks for m in b])

    def forward(x, training=True):
        modules.train(training)
        h = torch.relu(stem_bn(stem(x)))
        for c1, b1, c2, b2 in blocks:
            h = h + b2(c2(sigma(b1(c1(h))))) / L
        return head(h.mean(dim=(2, 3)))

    return forward, blocks, stem_bn


def _perturb(net, seed=1):
    """Non-zero batch-norm weights, so that every block acts (at the start bn_2 = 0 hides them)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in (net.bn1_weight, net.bn1_bias, net.bn2_weight, net.bn2_bias):
            p.copy_(torch.randn(p.shape, generator=gen))


@pytest.mark.parametrize("activation", ["gelu", "relu", "identity"])
def test_forward_matches_a_build_from_nn_modules(activation):
    net = ConvResNet(3, channels=4, activation=activation, start="iid", seed=0, stem_stride=2)
    _perturb(net)
    ref, blocks, stem_bn = _reference(net)
    x, _ = _images()
    net.train()
    assert torch.allclose(net(x), ref(x, training=True), atol=1e-5)
    # the running statistics moved as nn.BatchNorm2d's did (slot 0: stem, 1..L: bn_1, L+1..2L: bn_2)
    assert torch.allclose(net.running_mean[0], stem_bn.running_mean, atol=1e-6)
    for k, (_, b1, _, b2) in enumerate(blocks):
        assert torch.allclose(net.running_mean[1 + k], b1.running_mean, atol=1e-6)
        assert torch.allclose(net.running_var[1 + net.L + k], b2.running_var, atol=1e-5)
    net.eval()
    assert torch.allclose(net(x), ref(x, training=False), atol=1e-5)


def test_start_tied_iid_and_zero_blocks():
    tied = ConvResNet(6, channels=4, start="tied", seed=3)
    iid = ConvResNet(6, channels=4, start="iid", seed=3)
    for name in ("conv1_weight", "conv1_bias", "conv2_weight", "conv2_bias"):
        w = getattr(tied, name)
        assert torch.equal(w, w[:1].expand_as(w)), name                # every block a copy of block 1
        assert not torch.equal(getattr(iid, name)[0], getattr(iid, name)[1]), name
    for net in (tied, iid):                     # bn_2 = 0: every block is the zero map, h_L = h_0
        assert torch.equal(net.bn2_weight, torch.zeros(6, 4)) and torch.equal(net.bn2_bias, torch.zeros(6, 4))
        _, states = net(_images()[0], return_states=True)
        assert states.shape == (7, 12, 4, 8, 8) and torch.equal(states[-1], states[0])
    assert conv_roughness(tied) == 0.0
    # i.i.d. uniform entries on [-b, b], b = 1/sqrt(9C): E||w - w'||_F^2 = 2 C^2 9 b^2 / 3 = 2C/3 per kernel
    big = ConvResNet(40, channels=16, start="iid", seed=0)
    gaps = big.layer_gaps()
    assert gaps.mean() == pytest.approx(2 * math.sqrt(2 * 16 / 3), rel=0.05)
    assert conv_roughness(big) == pytest.approx(40 * float(gaps.max()))
    # the initialisation's scale is PyTorch's default for a convolution
    assert float(big.conv1_weight.detach().abs().max()) <= 1 / math.sqrt(9 * 16)


def test_seeds_are_explicit_and_reproducible():
    a, b, c = (ConvResNet(4, channels=4, start="iid", seed=s) for s in (5, 5, 6))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.conv1_weight, c.conv1_weight)


def test_residual_weights_and_layer_gaps():
    net = ConvResNet(5, channels=3, start="iid", seed=0)
    w = net.residual_weights()
    assert set(w) == {"conv1", "conv2", "conv1_bias", "conv2_bias", "bn1_weight", "bn1_bias", "bn2_weight", "bn2_bias"}
    assert w["conv1"].shape == (5, 3, 3, 3, 3) and w["bn2_weight"].shape == (5, 3)
    w["conv1"].zero_()                                                  # a copy, not the weights
    assert net.conv1_weight.abs().sum() > 0
    c1, c2 = net.conv1_weight.detach().double(), net.conv2_weight.detach().double()
    by_hand = [float((c1[k + 1] - c1[k]).norm() + (c2[k + 1] - c2[k]).norm()) for k in range(4)]
    assert np.allclose(net.layer_gaps().numpy(), by_hand)
    assert conv_roughness(ConvResNet(1, channels=3, start="iid", seed=0)) == 0.0
    no_bn = ConvResNet(3, channels=3, start="iid", seed=0, batch_norm=False)
    assert set(no_bn.residual_weights()) == {"conv1", "conv2", "conv1_bias", "conv2_bias"}
    assert torch.equal(no_bn.conv2_weight, torch.zeros(3, 3, 3, 3, 3))
    x, _ = _images(4)
    assert torch.allclose(no_bn(x), no_bn.head(no_bn.stem(x).mean(dim=(2, 3))))   # zero blocks


def test_accuracy_counts_and_restores_the_mode():
    net = ConvResNet(2, channels=4, start="iid", seed=0)
    x, labels = _images(30)
    net.train()
    acc = net.accuracy(x, labels, batch_size=7)
    net.eval()
    assert acc == pytest.approx(100 * float((net(x).argmax(1) == labels).double().mean()))
    net.train()
    net.accuracy(x, labels)
    assert net.training


def test_one_step_is_sgd_with_the_factor_L_on_the_blocks_only():
    x, labels = _images(16)
    net = ConvResNet(4, channels=3, activation="gelu", start="iid", seed=0)
    _perturb(net)
    names = [n for n, _ in net.named_parameters()]
    for L_factor in (False, True):
        # one epoch of one batch holding every image: the full-batch gradient (batch norm and the mean
        # loss do not depend on the order of the images)
        rec = train_convnet(net, x, labels, epochs=1, lr=0.1, seed=0, batch_size=16, momentum=0.9,
                            weight_decay=5e-4, L_factor=L_factor, progress=False)
        ref = cn._copy(net)
        ref.train()
        loss = nn.functional.cross_entropy(ref(x), labels)
        grads = torch.autograd.grad(loss, list(ref.parameters()))
        for name, p, g in zip(names, ref.parameters(), grads):
            step = 0.1 * (4 if L_factor and name.startswith(("conv1", "conv2", "bn1", "bn2")) else 1)
            # first step of SGD with momentum: v = g + wd w, w <- w - step v
            expected = p.detach() - step * (g + 5e-4 * p.detach())
            assert torch.allclose(dict(rec.net.named_parameters())[name], expected, atol=1e-6), (name, L_factor)
    assert torch.equal(net.bn2_weight, net.bn2_weight)                  # (the input network untouched:)
    assert not torch.equal(rec.net.conv1_weight, net.conv1_weight)


def test_training_learns_records_and_leaves_the_input_untouched():
    def images(n, seed):                                  # an easy two-class task: bright or dark images
        noise, labels = _images(n, seed=seed)
        labels = labels % 2
        return 0.5 * noise + (2 * labels - 1).float().view(-1, 1, 1, 1), labels

    x, labels = images(64, 1)
    x_test, labels_test = images(32, 2)
    net = ConvResNet(3, channels=4, start="tied", seed=0)
    before = net.conv1_weight.detach().clone()
    rec = train_convnet(net, x, labels, x_test=x_test, labels_test=labels_test, epochs=6, lr=0.05, seed=0,
                        batch_size=16, progress=False)
    assert rec.epochs == 6 and rec.train_loss.shape == rec.train_acc.shape == rec.test_acc.shape == (6,)
    assert rec.train_loss[-1] < 0.5 * rec.train_loss[0] and rec.train_acc[-1] >= 70
    assert rec.final_test_acc == rec.net.accuracy(x_test, labels_test)     # after the last epoch, eval mode
    assert np.allclose(rec.lr, 0.05 * (1 + np.cos(np.pi * np.arange(6) / 6)) / 2)      # cosine schedule
    assert torch.equal(net.conv1_weight, before) and rec.wall_time > 0 and not rec.net.training
    assert rec.L_factor                                                  # the course's flow by default
    tied = rec.net.conv1_weight.detach()
    spread = float((tied - tied[:1]).abs().max())
    assert 0 < spread < 0.02                                            # tied blocks separate, but only a little
    again = train_convnet(net, x, labels, epochs=2, lr=0.05, seed=0, batch_size=16, progress=False)
    twice = train_convnet(net, x, labels, epochs=2, lr=0.05, seed=0, batch_size=16, progress=False)
    assert torch.equal(again.net.conv1_weight, twice.net.conv1_weight)  # the seed fixes the batch order
    with pytest.raises(ValueError, match="no test data"):
        again.final_test_acc


def _flushing() -> bool:
    return (torch.tensor([1e-39]) * 1.0).item() == 0.0


def test_subnormals_are_flushed_during_training_only():
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush subnormal floats")
    seen = []

    def probe(batch, gen):
        seen.append(_flushing())
        return batch

    x, labels = _images(8)
    train_convnet(ConvResNet(2, channels=2, seed=0), x, labels, epochs=1, lr=0.01, seed=0, augment=probe,
                  progress=False)
    assert seen and all(seen) and not _flushing()                      # on inside, restored outside
    torch.set_flush_denormal(True)
    try:
        train_convnet(ConvResNet(2, channels=2, seed=0), x, labels, epochs=1, lr=0.01, seed=0, progress=False)
        assert _flushing()                                              # a mode set before is kept
    finally:
        torch.set_flush_denormal(False)


def test_divergence_and_the_progress_bar_is_closed(monkeypatch):
    closed = []

    class Bar:
        def update(self, k): pass
        def set_postfix(self, **kw): pass
        def close(self): closed.append(True)

    monkeypatch.setattr(cn, "progress_allowed", lambda progress: True)
    monkeypatch.setattr(cn, "progress_bar", lambda total, desc: Bar())
    x, labels = _images(8)
    with pytest.raises(TrainingDivergedError, match="lr"):
        train_convnet(ConvResNet(2, channels=2, seed=0), x, labels, epochs=2, lr=0.01, seed=0,
                      augment=lambda b, g: b * float("nan"))
    assert closed == [True]


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(L=0), ValueError, "L must"), (dict(L=2.0), TypeError, "L must"),
    (dict(channels=0), ValueError, "channels"), (dict(activation="swish"), ValueError, "activation"),
    (dict(start="smooth"), ValueError, "start"), (dict(seed=-1), ValueError, "seed"),
    (dict(batch_norm="yes"), TypeError, "batch_norm"), (dict(num_classes=1), ValueError, "num_classes"),
])
def test_network_rejects_bad_arguments(kwargs, error, match):
    args = dict(L=2, channels=2, seed=0) | kwargs
    with pytest.raises(error, match=match):
        ConvResNet(args.pop("L"), **args)


def test_inputs_are_checked_with_their_names():
    net = ConvResNet(2, channels=2, seed=0)
    x, labels = _images(6)
    with pytest.raises(ValueError, match="x must have shape"):
        net(torch.randn(6, 3, 8, 8))
    with pytest.raises(ValueError, match="x must have 4"):
        net(torch.randn(6, 64))
    with pytest.raises(TypeError, match="x has dtype"):
        net(x.double())
    with pytest.raises(TypeError, match="net must be a ConvResNet"):
        conv_roughness("net")
    good = dict(epochs=1, lr=0.1, seed=0, progress=False)
    for kwargs, error, match in [
        (dict(labels=labels.float()), TypeError, "labels must be an integer"),
        (dict(labels=labels[:3]), ValueError, r"labels must have shape \(6,\)"),
        (dict(labels=labels + 10), ValueError, "labels must lie in 0..9"),
        (dict(epochs=0), ValueError, "epochs"), (dict(lr=-1.0), ValueError, "lr"),
        (dict(momentum=1.0), ValueError, "momentum"), (dict(weight_decay=-1.0), ValueError, "weight_decay"),
        (dict(batch_size=1), ValueError, "batch_size"), (dict(seed=None), TypeError, "seed"),
        (dict(x_test=x), ValueError, "x_test and labels_test"), (dict(augment=3), TypeError, "augment"),
        (dict(device="tpu"), ValueError, "device"),
    ]:
        args = dict(good, labels=labels) | kwargs
        with pytest.raises(error, match=match):
            train_convnet(net, x, args.pop("labels"), **args)
    with pytest.raises(TypeError, match="net must be a ConvResNet"):
        train_convnet(None, x, labels, **good)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device"):
            train_convnet(net, x, labels, device="cuda", **good)
