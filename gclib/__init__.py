"""gclib: nested gradient codes for straggler mitigation in distributed learning.

The public surface is the names in ``__all__``; every module whose name starts with an
underscore is private and may change.
"""

from gclib._errors import NotDecodableError

__version__ = "0.1.0"

__all__ = [
    "NotDecodableError",
]
