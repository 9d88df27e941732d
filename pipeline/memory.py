"""The process's heap, as glibc's malloc keeps it: given back to the system when it would add up,
kept for reuse while a streamed build allocates the same tens of megabytes batch after batch.

On the virtual machines these builds run on, a page touched for the first time costs a fault in
the kernel (about 1 GB/s): at a million rows a streamed build faulted 1.2 million pages, 3 s of
system time, most of them pages it had just given back. Elsewhere (macOS, musl) nothing is done.
"""

from __future__ import annotations

import ctypes
import os

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
REUSE_BELOW = 64 << 20  # blocks up to this size come from the heap, and freed ones are reused
KEEP_FREE = 512 << 20  # free memory at the heap's top glibc keeps instead of trimming it at once
ARENAS = 2  # heaps shared by the threads: a block freed by one thread is reused by the next
STREAM_RESIDENT_BUDGET = 1 << 30  # a streamed build gives freed memory back only above this


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune or trim
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


_LIBC = _glibc()
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def return_freed() -> None:
    """Give every freed page back (glibc keeps them otherwise): Arrow allocates from its own pool
    (mimalloc) and would not reuse what calamine freed, so both would add up in the peak."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def resident_bytes() -> int | None:
    """The process's resident memory now (Linux), None where it cannot be read."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def return_freed_above(budget: int) -> None:
    """`return_freed` once the process holds more than `budget` bytes (or when that is unknown):
    below it the freed pages are kept, and the next batch reuses them without a fault."""
    resident = resident_bytes()
    if resident is None or resident > budget:
        return_freed()


def reuse_freed_blocks() -> None:
    """Let glibc keep freed blocks of up to REUSE_BELOW for reuse, in ARENAS heaps, instead of
    unmapping them on free (its default for a block above 128 KB to 32 MB, as it goes) and
    trimming the heap's top at once: a streamed build's blocks and batches are 24-30 MB each.
    For the whole process, and harmless to call again."""
    if _LIBC is not None:
        _LIBC.mallopt(_M_MMAP_THRESHOLD, REUSE_BELOW)
        _LIBC.mallopt(_M_TRIM_THRESHOLD, KEEP_FREE)
        _LIBC.mallopt(_M_ARENA_MAX, ARENAS)
