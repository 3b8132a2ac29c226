"""Running deep call stacks without CPython 3.11's data-stack thrashing.

CPython 3.11 keeps the frames of a thread in 16 KiB "data stack chunks". When a call crosses a chunk's end it
maps a new chunk (mmap), and when the first frame of that chunk returns it unmaps it again (munmap): a stack
that goes up and down across a chunk boundary pays two system calls and four fresh zeroed pages per crossing.
The local stack's requests (pytest or a poller, chalice, the product, PynamoDB, botocore, moto) are deep
enough to cross a boundary on nearly every call: a 100-order storm part made 371 000 mmap/munmap pairs, and
the whole suite 16 million page faults, a sixth of its CPU time in the kernel (measured with ``strace -c``
and ``/usr/bin/time -v``; docs/local-stack.md).

``run_in_wide_frame(call)`` calls ``call`` from a frame so large that CPython gives it a chunk of its own of
``CHUNK_BYTES``, with room to spare for every frame below it: the calls made inside never need another chunk.
The frame's slots are never used (its code never runs the assignment that declares them); the price is one
mapping per call of ``run_in_wide_frame`` and the pages the stack really touches.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

# A frame of SLOTS pointers (256 KiB) gets a chunk of 512 KiB (CPython doubles 16 KiB until the frame fits):
# the other 256 KiB hold the frames below it, 32 768 slots, over ten times the deepest storm request's stack.
SLOTS = 32 * 1024
CHUNK_BYTES = 512 * 1024


def _wide_runner(slots: int) -> Callable[..., Any]:
    names = " = ".join(f"_{i}" for i in range(slots))
    source = (
        "def run_wide(call, args, kwargs):\n"
        "    if call is None:  # never true: declares the locals that widen the frame\n"
        f"        {names} = None\n"
        "    return call(*args, **kwargs)\n"
    )
    namespace: dict[str, Any] = {}
    exec(compile(source, "<fenxiao_local.datastack>", "exec"), namespace)  # noqa: S102 -- our own generated source
    runner: Callable[..., Any] = namespace["run_wide"]
    return runner


# CPython 3.11 and later keep frames in chunks; other interpreters do not need the wide frame
_run_wide = (
    _wide_runner(SLOTS) if sys.implementation.name == "cpython" and sys.version_info >= (3, 11) else None
)


def run_in_wide_frame(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call(*args, **kwargs)``, from a frame whose data-stack chunk also holds every frame below it
    (on CPython 3.11 and later; elsewhere a plain call)."""
    if _run_wide is None:
        return call(*args, **kwargs)
    result: T = _run_wide(call, args, kwargs)
    return result
