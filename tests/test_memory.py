"""The heap settings a streamed build makes: freed blocks reused without a page fault, and
freed memory given back only above the build's budget."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from pipeline import memory

glibc_only = pytest.mark.skipif(memory._LIBC is None, reason="glibc's malloc only")

# 20 blocks of 40 MB, each freed before the next: the page faults this takes
FAULTS = textwrap.dedent(
    """
    import resource, sys
    from pipeline import memory
    if sys.argv[1] == "reuse":
        memory.reuse_freed_blocks()
    def faults():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = b"x" * (40 << 20)
    del block
    before = faults()
    for _ in range(20):
        block = b"x" * (40 << 20)
        del block
    print(faults() - before)
    """
)


def _faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, check=True)
    return int(done.stdout)


@glibc_only
def test_freed_blocks_are_reused_without_page_faults() -> None:
    pages = (40 << 20) // memory._PAGE
    default, reused = _faults("default"), _faults("reuse")
    assert default >= 10 * pages  # glibc maps a block this large afresh each time: every page faults
    assert reused < pages  # the freed block is taken again: not even one block's pages fault


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/statm")
def test_resident_bytes_follow_what_the_process_touches() -> None:
    before = memory.resident_bytes()
    block = bytearray(b"x" * (64 << 20))
    after = memory.resident_bytes()
    assert before is not None and after is not None
    assert after - before >= 60 << 20
    del block


@pytest.mark.parametrize(
    ("resident", "trimmed"),
    [(2 << 30, True), ((1 << 30) + 1, True), (1 << 30, False), (300 << 20, False), (None, True)],
)
def test_freed_memory_is_given_back_only_above_the_budget(
    monkeypatch: pytest.MonkeyPatch, resident: int | None, trimmed: bool
) -> None:
    calls = []
    monkeypatch.setattr(memory, "resident_bytes", lambda: resident)
    monkeypatch.setattr(memory, "return_freed", lambda: calls.append(1))
    memory.return_freed_above(1 << 30)
    assert bool(calls) is trimmed
