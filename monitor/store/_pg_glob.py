"""fnmatch-style type filters (``ad.*``) translated to anchored PostgreSQL regular expressions."""

from __future__ import annotations

#: A set whose ranges were all empty (``[z-a]``): NUL never occurs in PostgreSQL text,
#: so "any character but those from U+0001 up" matches nothing, as fnmatch's ``(?!)`` does.
_NOTHING = r"[^\u0001-\U0010ffff]"


def fnmatch_regex(pattern: str) -> str:
    """An fnmatch pattern as the PostgreSQL ARE that selects exactly what ``fnmatchcase`` does.

    The brackets are scanned as ``fnmatch.translate`` scans them: ``[!...]`` negates, a
    ``]`` first in a set is a member, ``-`` between two members is a range (an empty
    range is dropped), an unclosed ``[`` is literal. Every character that is not an
    ASCII letter or digit is written as a ``\\u`` escape, which no regex syntax (inside
    a set or out) can misread.
    """
    out, i, n = ["^"], 0, len(pattern)
    while i < n:
        char = pattern[i]
        i += 1
        if char == "*":
            if out[-1] != ".*":  # a run of stars is one star
                out.append(".*")
        elif char == "?":
            out.append(".")
        elif char != "[":
            out.append(_escape(char))
        else:
            j = i + (pattern[i : i + 1] == "!")
            j += pattern[j : j + 1] == "]"
            end = pattern.find("]", j)
            if end < 0:
                out.append(_escape("["))
                continue
            out.append(_set(pattern[i:end]))
            i = end + 1
    out.append("$")
    return "".join(out)


def _set(members: str) -> str:
    negate = members.startswith("!")
    if negate:
        members = members[1:]
    items, k = [], 0
    while k < len(members):
        if members[k + 1 : k + 2] == "-" and k + 2 < len(members):
            low, high = members[k], members[k + 2]
            if low <= high:
                items.append(f"{_escape(low)}-{_escape(high)}")
            k += 3
        else:
            items.append(_escape(members[k]))
            k += 1
    if not items:
        return "." if negate else _NOTHING
    return f"[{'^' if negate else ''}{''.join(items)}]"


def _escape(char: str) -> str:
    if char.isascii() and char.isalnum():
        return char
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
