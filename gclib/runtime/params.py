"""The model parameters of a broadcast on the wire.

Every worker decodes the parameters at each iteration's start, and unpickling an array costs a
worker woken from sleep more than all its signals: a plain numeric array therefore travels as its
type, shape and raw bytes; anything else is pickled (a pickle's first byte, its protocol marker,
is never the array tag).
"""

from __future__ import annotations

import pickle
import struct
from typing import Any

import numpy as np

__all__ = ["encode_params", "decode_params"]

# parameters that are a plain numeric array: tag, type string, axes; then the shape and the bytes
_ARRAY_PARAMS = 1
_PARAMS_HEAD = struct.Struct("<B8sB")
_PARAMS_KINDS, _PARAMS_MAX_AXES = "biufc", 32


def encode_params(params: Any) -> bytes:
    """``params`` as a :class:`~gclib.runtime.protocol.Go` carries them: a plain numeric array
    as its type, shape and raw bytes, anything else pickled."""
    if (
        type(params) is np.ndarray
        and params.dtype.kind in _PARAMS_KINDS
        and len(params.dtype.str) <= 8
        and params.ndim <= _PARAMS_MAX_AXES
    ):
        head = _PARAMS_HEAD.pack(_ARRAY_PARAMS, params.dtype.str.encode("ascii"), params.ndim)
        shape = struct.pack(f"<{params.ndim}q", *params.shape)
        return head + shape + np.ascontiguousarray(params).tobytes()
    return pickle.dumps(params, protocol=pickle.HIGHEST_PROTOCOL)


def decode_params(data: bytes | bytearray) -> Any:
    """The parameters :func:`encode_params` gave ``data`` for (an array comes back writable)."""
    if not data or data[0] != _ARRAY_PARAMS:
        return pickle.loads(data)
    _, kind, ndim = _PARAMS_HEAD.unpack_from(data)
    shape = struct.unpack_from(f"<{ndim}q", data, _PARAMS_HEAD.size)
    dtype = np.dtype(kind.rstrip(b"\0").decode("ascii"))
    start = _PARAMS_HEAD.size + 8 * ndim
    return np.frombuffer(data, dtype, offset=start).reshape(shape).copy()
