"""Landlock: the kernel refuses every write outside the working directory, whatever makes it.

Landlock (Linux 5.13+, unprivileged, inherited by threads, irreversible) is given a ruleset that
*handles* the write-like filesystem rights (write and truncate a file, create, remove, rename or
link anything, make a node of any kind) and grants them beneath the working directory only.
Reading and executing are not handled, so they stay as the other layers leave them. Where the
kernel offers it (ABI 6+), the domain is also *scoped*: no signal to, and no abstract Unix socket
of, a process outside the sandbox.

This is what confines writes in ``isolation="process"`` (no mount namespace): C code that opens
files without an audit event (``sqlite3``, ``readline.write_history_file``, an extension
module) is refused with ``EACCES`` like Python's ``open``. A kernel without Landlock (or with it
disabled) leaves the layer out of the report.

Part of the sandbox's child: standard library only (``python -I -S``).
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

from ponder.sandbox._child_sys import SetupError

CREATE_RULESET, ADD_RULE, RESTRICT_SELF = 444, 445, 446  # the same on every architecture
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1

WRITE_FILE, REMOVE_DIR, REMOVE_FILE = 1 << 1, 1 << 4, 1 << 5
MAKE_CHAR, MAKE_DIR, MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = (1 << bit for bit in range(6, 13))
REFER, TRUNCATE = 1 << 13, 1 << 14  # ABI 2, ABI 3
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1, 2  # ABI 6
WRITES_ABI1 = WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_CHAR | MAKE_DIR | MAKE_REG
WRITES_ABI1 |= MAKE_SOCK | MAKE_FIFO | MAKE_BLOCK | MAKE_SYM


class RulesetAttr(ctypes.Structure):
    """``struct landlock_ruleset_attr`` (its size tells the kernel which fields are present)."""

    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class PathBeneath(ctypes.Structure):
    """``struct landlock_path_beneath_attr`` (packed)."""

    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_abi(libc: Any) -> int:
    """The kernel's Landlock ABI version; 0 when it has none."""
    version = int(libc.syscall(CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION)))
    return max(version, 0)


def restrict_writes(libc: Any, workdir: str) -> bool:
    """Confine this thread (and what it starts) to writing beneath ``workdir``; False without Landlock."""
    abi = landlock_abi(libc)
    if abi < 1:
        return False
    handled = WRITES_ABI1 | (REFER if abi >= 2 else 0) | (TRUNCATE if abi >= 3 else 0)
    scoped = SCOPE_SIGNAL | SCOPE_ABSTRACT_UNIX_SOCKET if abi >= 6 else 0
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    attr = RulesetAttr(handled, 0, scoped)
    ruleset = int(libc.syscall(CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)))
    if ruleset < 0:
        raise SetupError(f"landlock_create_ruleset: {os.strerror(ctypes.get_errno())}")
    try:
        beneath = os.open(workdir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            rule = PathBeneath(handled, beneath)
            if libc.syscall(ADD_RULE, ruleset, RULE_PATH_BENEATH, ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
                raise SetupError(f"landlock_add_rule: {os.strerror(ctypes.get_errno())}")
        finally:
            os.close(beneath)
        if libc.syscall(RESTRICT_SELF, ruleset, ctypes.c_uint32(0)) != 0:
            raise SetupError(f"landlock_restrict_self: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(ruleset)
    return True
