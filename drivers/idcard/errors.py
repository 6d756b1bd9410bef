"""The errors of the ID-card codec, split by whose fault they are.

`PeerError`: the reader sent bytes that do not make sense (a wrong length field, an unknown card type,
a date that is not a date). `UsageError`: this program asked for something impossible (a name too long
for its field). Frame-level problems (bad checksum, bad length) are not raised: the decoder reports
them as events, see `codec.FrameError`.
"""

from __future__ import annotations


class IdCardError(Exception):
    """Base of every error raised by the ID-card codec."""


class PeerError(IdCardError):
    """The reader's bytes are malformed; the message says what is wrong with them."""


class UsageError(IdCardError, ValueError):
    """A local misuse of the codec (e.g. a value that does not fit its field)."""
