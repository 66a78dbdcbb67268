"""``helpers``: the small library behind the course *Deep ResNets, neural ODEs and the implicit
regularization between them* (Marion, Wu, Sander & Biau, ICLR 2024, arXiv:2309.01213).

Public API (everything a notebook needs)::

    setup, by_scale, get_scale, get_device, set_seed          # run-time settings (config)
    ResNet, mse_loss, theory_input_output_maps                 # the model, eq. (3)
    init_weights, smooth_weight_functions, smooth_function     # initialisations across depth
    loss_and_gradients, autograd_gradients, Gradients          # backprop as a discrete adjoint
    train, TrainRecord, TrainingDivergedError                  # gradient descent on the flow, eq. (4)
    NeuralODE, euler, rk4, subsample_table                     # neural ODEs, eq. (6)
    layer_gaps, max_layer_gap, depth_distance, fit_loglog_slope, SlopeFit   # measurements
    gaussian_data, digits_data                                 # data
    use_course_style, plot_weights_across_depth, plot_weights_against_s, plot_loglog_rate, plot_heatmap,
    COLORS, depth_colors                                       # figures (matplotlib loaded on first use)
    check                                                      # check cells
"""
from .activations import ACTIVATIONS, get_activation
from .adjoint import Gradients, autograd_gradients, loss_and_gradients
from .checks import check
from .counterexample import CounterexampleRun, GapSweep, counterexample_net, gap_sweep, plot_counterexample_weights, plot_gap_sweeps, relu_w_star, run_counterexample
from .config import by_scale, get_device, get_scale, set_seed, setup
from .data import digits_data, gaussian_data
from .depth_limits import REGIMES, ODEErrorSweep, RegimeSweep, make_ode, make_resnet, ode_path, plot_hidden_states, plot_output_across_depth, plot_weights_vs_depth, regime_sweep, regime_weights, resnet_states, resnet_to_ode_errors
from .finite_time import DepthLimit, Profiles, alpha_lower_estimate, depth_limit_run, depth_slopes, depth_sweep, effective_exponential_rate, fig1_network, forward_backward_profiles, gap_table, plot_distance_heatmap, plot_gap_vs_depth, plot_profiles, plot_rate_vs_depth, plot_scaled_gaps, scaled_gap_curves
from .gradient_flow import States, euler_gap_at_time, flow_speed, forward_backward_states, gradient_descent_path, gradient_flow_path, make_resnets, per_layer_gradient_norms, plot_across_depth, plot_descent_paths, plot_loss_along_paths, plot_loss_vs_time, relative_gradient_error, valley_grad, valley_loss
from .init import init_weights, smooth_function, smooth_weight_functions
from .metrics import SlopeFit, depth_distance, fit_loglog_slope, layer_gaps, max_layer_gap
from .ode import NeuralODE, euler, rk4, subsample_table
from .resnet import ResNet, mse_loss, theory_input_output_maps
from .train import TrainingDivergedError, TrainRecord, train
from .toy2d import compare_gradient_methods, gradient_cost, num_threads, plot_gradient_costs, plot_trajectories, train_toy_ode, two_moons

__version__ = "0.1.0"
import types as _types

# matplotlib (~30 MB) is imported on first use of a plotting name, so that scripts and benchmarks that
# only train stay light.
_PLOTTING = ("COLORS", "depth_colors", "plot_heatmap", "plot_loglog_rate", "plot_weights_across_depth",
             "plot_weights_against_s", "use_course_style")


def __getattr__(name):
    if name in _PLOTTING:
        from . import plotting
        return getattr(plotting, name)
    raise AttributeError(f"module 'helpers' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_PLOTTING))


__all__ = sorted({name for name, obj in globals().items()
                  if not name.startswith("_") and not isinstance(obj, _types.ModuleType)} | set(_PLOTTING))
