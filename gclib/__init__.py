"""gclib: nested gradient codes for straggler mitigation in distributed learning.

The public surface is the names in ``__all__``; every module whose name starts with an
underscore is private and may change.
"""

from gclib._errors import NotDecodableError
from gclib._model import ModelSample, RuntimeModel
from gclib._scheduler import Scheduler
from gclib._schemes import Scheme, parse_scheme, parse_schemes

__version__ = "0.1.0"

__all__ = [
    # errors
    "NotDecodableError",
    # runtime model, schemes and the master's decision logic
    "RuntimeModel",
    "ModelSample",
    "Scheme",
    "parse_scheme",
    "parse_schemes",
    "Scheduler",
    # code families
    # theory and simulation
    # worker pool
    # training
]
