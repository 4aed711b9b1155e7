"""Exceptions of gclib."""


class NotDecodableError(Exception):
    """The responders cannot recover the full gradient exactly.

    Raised when too few workers responded, when the responder set does not span the
    all-ones vector, or when the decoding residual ``‖α_Rᵀ B_R − 1ᵀ‖`` is too large to
    trust the result.
    """
