"""Equilibrium propagation (paper Section III-F, eqs. 8-31).

* :mod:`.core`: generic EP over ``F(theta, beta, s, v) = E + beta C`` (eqs. 8-10), one-sided and symmetric
  estimators, BPTT reference;
* :mod:`.hopfield` / :mod:`.training`: the Scellier-Bengio network, EP training, the backprop baseline;
* :mod:`.gradcheck`: the GDU property (EP -> BPTT as beta -> 0);
* :mod:`.explicit` / :mod:`.shooting`: explicit systems (feed-forward nets, geodesic shooting) as EP;
* :mod:`.structure`: structure search with a complexity term (eq. 31).
"""

from .core import EnergyModel as EnergyModel
from .core import EPEstimate as EPEstimate
from .core import bptt_gradient as bptt_gradient
from .core import ep_gradient as ep_gradient
from .core import relax as relax
from .explicit import Chain as Chain
from .explicit import backprop_gradient as backprop_gradient
from .explicit import chain_ep_gradient as chain_ep_gradient
from .explicit import mlp_chain as mlp_chain
from .gradcheck import ep_vs_bptt as ep_vs_bptt
from .hopfield import HopfieldNet as HopfieldNet
from .hopfield import init_hopfield as init_hopfield
from .structure import StructureSpace as StructureSpace
from .structure import pareto_front as pareto_front
from .structure import reinforce_search as reinforce_search
from .structure import structure_search as structure_search
from .training import EPConfig as EPConfig
from .training import scellier_bengio_config as scellier_bengio_config
from .training import train_backprop as train_backprop
from .training import train_ep as train_ep

__all__ = [
    "Chain",
    "EPConfig",
    "EPEstimate",
    "EnergyModel",
    "HopfieldNet",
    "StructureSpace",
    "backprop_gradient",
    "bptt_gradient",
    "chain_ep_gradient",
    "ep_gradient",
    "ep_vs_bptt",
    "init_hopfield",
    "mlp_chain",
    "pareto_front",
    "reinforce_search",
    "relax",
    "scellier_bengio_config",
    "structure_search",
    "train_backprop",
    "train_ep",
]
