"""``helpers``: the small library behind the course *Deep ResNets, neural ODEs and the implicit
regularization between them* (Marion, Wu, Sander & Biau, ICLR 2024, arXiv:2309.01213).

Core API (loaded with ``import helpers``)::

    setup, by_scale, get_scale, get_device, set_seed          # run-time settings (config)
    ResNet, mse_loss, theory_input_output_maps                 # the model, eq. (3)
    init_weights, smooth_weight_functions, smooth_function     # initialisations across depth
    loss_and_gradients, autograd_gradients, Gradients          # backprop as a discrete adjoint
    train, TrainRecord, TrainingDivergedError, num_threads     # gradient descent on the flow, eq. (4)
    NeuralODE, euler, rk4, subsample_table                     # neural ODEs, eq. (6)
    layer_gaps, max_layer_gap, depth_distance, fit_loglog_slope, SlopeFit   # measurements
    gaussian_data, digits_data                                 # data
    check                                                      # check cells

Loaded on first use (so that ``import helpers`` stays light: no matplotlib, SciPy or torchdiffeq until a
figure or a reference solve needs them), under the same flat names, e.g. ``helpers.depth_sweep``:

* ``plotting``        -- the course's figure style and recurring figures (``use_course_style``, ...);
* ``toy2d``           -- notebook 01: a 2-D neural ODE, backprop vs adjoint costs;
* ``depth_limits``    -- notebook 02: ResNet-to-ODE errors, the four large-depth regimes;
* ``gradient_flow``   -- notebook 03: gradient descent vs gradient flow, states and gradients across depth;
* ``finite_time``     -- notebook 04: Fig. 1 (left and right), the constant of Prop. 3;
* ``counterexample``  -- notebook 05: the ReLU counterexample, i.i.d. starts, activations.
"""
import importlib as _importlib

from .activations import ACTIVATIONS, get_activation
from .adjoint import Gradients, autograd_gradients, loss_and_gradients
from .checks import check
from .config import by_scale, get_device, get_scale, set_seed, setup
from .data import digits_data, gaussian_data
from .init import init_weights, smooth_function, smooth_weight_functions
from .metrics import SlopeFit, depth_distance, fit_loglog_slope, layer_gaps, max_layer_gap
from .ode import NeuralODE, euler, rk4, subsample_table
from .resnet import ResNet, mse_loss, theory_input_output_maps
from .train import TrainingDivergedError, TrainRecord, num_threads, train

__version__ = "0.1.0"

_LAZY = {
    "plotting": ("COLORS", "depth_colors", "plot_heatmap", "plot_loglog_rate", "plot_weights_across_depth",
                 "plot_weights_against_s", "use_course_style"),
    "toy2d": ("compare_gradient_methods", "gradient_cost", "plot_gradient_costs", "plot_trajectories",
              "train_toy_ode", "two_moons"),
    "depth_limits": ("REGIMES", "ODEErrorSweep", "RegimeSweep", "make_ode", "make_resnet", "ode_path",
                     "plot_hidden_states", "plot_output_across_depth", "plot_weights_vs_depth", "regime_sweep",
                     "regime_weights", "resnet_states", "resnet_to_ode_errors"),
    "gradient_flow": ("States", "euler_gap_at_time", "flow_speed", "forward_backward_states",
                      "gradient_descent_path", "gradient_flow_path", "make_resnets", "per_layer_gradient_norms",
                      "plot_across_depth", "plot_descent_paths", "plot_loss_along_paths", "plot_loss_vs_time",
                      "relative_gradient_error", "valley_grad", "valley_loss"),
    "finite_time": ("DepthLimit", "Profiles", "alpha_lower_estimate", "depth_limit_run", "depth_slopes",
                    "depth_sweep", "effective_exponential_rate", "fig1_network", "forward_backward_profiles",
                    "gap_table", "plot_distance_heatmap", "plot_gap_vs_depth", "plot_profiles",
                    "plot_rate_vs_depth", "plot_scaled_gaps", "scaled_gap_curves"),
    "counterexample": ("CounterexampleRun", "GapSweep", "counterexample_net", "gap_sweep",
                       "plot_counterexample_weights", "plot_gap_sweeps", "relu_w_star", "run_counterexample"),
}
_LAZY_NAMES = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name):
    if name in _LAZY_NAMES:
        value = getattr(_importlib.import_module(f".{_LAZY_NAMES[name]}", __name__), name)
        globals()[name] = value          # later look-ups are plain attribute reads
        return value
    if name in _LAZY:
        return _importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'helpers' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_NAMES))


__all__ = sorted({name for name, obj in globals().items() if not name.startswith("_")
                  and not isinstance(obj, type(_importlib)) and name != "annotations"} | set(_LAZY_NAMES))
