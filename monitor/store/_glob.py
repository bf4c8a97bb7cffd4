"""fnmatch-style type filters (``ad.*``) translated to SQLite GLOB patterns."""

from __future__ import annotations


def glob_pattern(pattern: str) -> str:
    """An fnmatch pattern (``ad.*``, ``*.[!u]*``) as the equivalent SQLite GLOB pattern.

    The two agree on ``*``, ``?`` and ``[...]``; they differ on negation (``[!...]`` in
    fnmatch, ``[^...]`` in GLOB), on a leading ``^`` in a set (literal in fnmatch) and on an
    unclosed ``[`` (literal in fnmatch, never matching in GLOB).
    """
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        i += 1
        if char != "[":
            out.append(char)
            continue
        start = i + (pattern[i : i + 1] == "!")
        start += pattern[start : start + 1] == "]"  # a "]" first in a set is a member
        end = pattern.find("]", start)
        if end < 0:
            out.append("[[]")
            continue
        members, i = pattern[i:end], end + 1
        if members.startswith("!"):
            out.append(f"[^{members[1:]}]")
        elif members.startswith("^"):
            # Literal in fnmatch: move it off the front, where GLOB reads it as negation.
            rest = members.lstrip("^")
            out.append(f"[{rest}^]" if rest else "^")
        else:
            out.append(f"[{members}]")
    return "".join(out)
