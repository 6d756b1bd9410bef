"""Whether the system clock is synchronised (boxes without an RTC boot with a wrong time).

Asks the kernel (adjtimex): NTP/chrony/systemd-timesyncd clear its "unsynchronised" state once
they have set the clock. Verdicts record the answer; their order never depends on the clock
(sequence numbers do that).
"""

from __future__ import annotations

import ctypes
import ctypes.util

_TIME_ERROR = 5  # the kernel's answer when the clock is not synchronised


class _Timex(ctypes.Structure):
    _fields_ = [("modes", ctypes.c_uint), ("_rest", ctypes.c_byte * 204)]


def synchronised() -> bool:
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    return int(libc.adjtimex(ctypes.byref(_Timex()))) not in (-1, _TIME_ERROR)
