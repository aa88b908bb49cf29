"""The activation units, one file per family; importing this package registers every name."""
from adaptact.units.base import ActivationUnit
from adaptact.units.baselines import APL, SLAF, Maxout, SReLU
from adaptact.units.blend import AdAct, Blend
from adaptact.units.cdf import AdaptiveCDF, AdaptiveGumbel, AdaptiveReLU
from adaptact.units.fixed import FIXED_MODULES
from adaptact.units.rational import PAU, RPAU
from adaptact.units.scaled import Affine, Scaled, SwishBeta
from adaptact.units.subnet import VAF, MetaNeuron

__all__ = [
    "APL", "ActivationUnit", "AdAct", "AdaptiveCDF", "AdaptiveGumbel", "AdaptiveReLU", "Affine", "Blend", "FIXED_MODULES",
    "MetaNeuron", "Maxout", "PAU", "RPAU", "SLAF", "SReLU", "Scaled", "SwishBeta", "VAF",
]
