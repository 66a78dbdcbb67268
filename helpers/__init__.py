"""``helpers``: the engine behind the course *Deep ResNets, neural ODEs and the implicit regularization
between them* (Marion, Wu, Sander & Biau, ICLR 2024, arXiv:2309.01213). ``import helpers as H``::

    setup, by_scale, get_scale                                # run-time settings        (config)
    ResNet, make_resnet, mse_loss                             # the model, eq. (3)        (resnet)
    init_weights, smooth_weight_functions                     # starts across depth       (init)
    get_activation                                            # sigma and sigma'          (activations)
    loss_and_gradients, autograd_gradients,                   # backprop as a discrete
    forward_backward_states                                   #   adjoint                 (adjoint)
    train, TrainingDivergedError                              # gradient flow, eq. (4)    (train)
    NeuralODE, euler, rk4                                     # neural ODEs, eq. (6)      (ode)
    max_layer_gap, depth_distance, fit_loglog_slope           # measurements              (metrics)
    peak_saved_bytes                                          # autograd's saved memory   (memory)
    ConvResNet, train_convnet, conv_roughness                 # Fig. 3's conv ResNet      (convnet)
    gaussian_data, sphere_data, digits_data                   # data                      (data)
    hermite_coefficients, prop5_constants                     # PL: eta_r(sigma), Prop. 5 (pl)
    use_course_style, COLORS, depth_colors, plot_across_depth,
    plot_loglog_rate, plot_heatmap                            # figures                   (plotting)
    check                                                     # check cells               (checks)

What these return (``TrainRecord``, ``States``, ``Gradients``, ``SlopeFit``, ``HermiteExpansion``) and the
plumbing (``num_threads``, ``auto_threads``, ``SavedTensorMeter``, ``layer_gaps``) stay in their modules, as do
the interactive explorers (``from helpers import explorers as X``), e.g.
``from helpers.train import TrainRecord``. Each notebook's own experiments live in ``helpers.chapters`` (one
module per notebook, e.g. ``from helpers.chapters import ch04_finite_time as ch``); chapters import this
engine, never each other.
"""
from .activations import get_activation
from .adjoint import autograd_gradients, forward_backward_states, loss_and_gradients
from .checks import check
from .config import by_scale, get_scale, setup
from .convnet import ConvResNet, conv_roughness, train_convnet
from .data import digits_data, gaussian_data, sphere_data
from .init import init_weights, smooth_weight_functions
from .memory import peak_saved_bytes
from .metrics import depth_distance, fit_loglog_slope, max_layer_gap
from .ode import NeuralODE, euler, rk4
from .pl import hermite_coefficients, prop5_constants
from .plotting import COLORS, depth_colors, plot_across_depth, plot_heatmap, plot_loglog_rate, use_course_style
from .resnet import ResNet, make_resnet, mse_loss
from .train import TrainingDivergedError, train

__version__ = "0.1.0"

__all__ = [
    "setup", "by_scale", "get_scale",
    "ResNet", "make_resnet", "mse_loss", "init_weights", "smooth_weight_functions", "get_activation",
    "loss_and_gradients", "autograd_gradients", "forward_backward_states",
    "train", "TrainingDivergedError", "NeuralODE", "euler", "rk4",
    "max_layer_gap", "depth_distance", "fit_loglog_slope", "peak_saved_bytes",
    "ConvResNet", "train_convnet", "conv_roughness",
    "gaussian_data", "sphere_data", "digits_data", "hermite_coefficients", "prop5_constants",
    "use_course_style", "COLORS", "depth_colors", "plot_across_depth", "plot_loglog_rate", "plot_heatmap",
    "check",
]
