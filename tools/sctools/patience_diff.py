"""Unified diffs of large generated files in time that grows with the files, not their square.

difflib.unified_diff matches lines with SequenceMatcher, whose longest-match
search rescans the ranges left between matches: on a 2-million-line
projects.yaml with 280,000 scattered changes it did not finish in 10
minutes. Generated files have many lines that occur once on each side (a
project's `- project: NAME` line), so this module anchors on those first
(patience diff: the longest run of unique common lines in the same order),
then treats each gap between anchors the same way, and leaves only a gap
without such lines to SequenceMatcher, which is then small.

unified_diff() takes and yields what difflib.unified_diff does (lines with
their newlines, three lines of context, the same hunk headers); the hunks
can differ from difflib's where several alignments are equally valid.
"""

from __future__ import annotations

import bisect
import difflib
from collections.abc import Iterator, Sequence

Opcode = tuple[str, int, int, int, int]


def matching_blocks(a: Sequence[str], b: Sequence[str]) -> list[tuple[int, int, int]]:
    """Blocks (i, j, n) with a[i:i+n] == b[j:j+n], ascending, adjacent ones joined,
    ending with (len(a), len(b), 0): what SequenceMatcher.get_matching_blocks returns."""
    found: list[tuple[int, int, int]] = []  # matching blocks, in no order
    ranges = [(0, len(a), 0, len(b))]  # a stack, not recursion: gaps nest
    while ranges:
        alo, ahi, blo, bhi = ranges.pop()
        start = alo
        while alo < ahi and blo < bhi and a[alo] == b[blo]:  # common head
            alo, blo = alo + 1, blo + 1
        if alo > start:
            found.append((start, blo - (alo - start), alo - start))
        end = ahi
        while alo < ahi and blo < bhi and a[ahi - 1] == b[bhi - 1]:  # common tail
            ahi, bhi = ahi - 1, bhi - 1
        if ahi < end:
            found.append((ahi, bhi, end - ahi))
        if alo == ahi or blo == bhi:
            continue
        anchors = _unique_anchors(a, alo, ahi, b, blo, bhi)
        if not anchors:
            if ahi - alo > 1 or bhi - blo > 1:  # one line against another: a change
                matcher = difflib.SequenceMatcher(None, a[alo:ahi], b[blo:bhi])
                found.extend((alo + i, blo + j, n) for i, j, n in matcher.get_matching_blocks())
            continue
        found.extend((i, j, 1) for i, j in anchors)
        i1, j1 = alo, blo
        for i, j in anchors:
            ranges.append((i1, i, j1, j))
            i1, j1 = i + 1, j + 1
        ranges.append((i1, ahi, j1, bhi))
    found.sort()
    blocks: list[tuple[int, int, int]] = []
    for i, j, n in found:
        if not n:
            continue
        if blocks and blocks[-1][0] + blocks[-1][2] == i and blocks[-1][1] + blocks[-1][2] == j:
            blocks[-1] = (blocks[-1][0], blocks[-1][1], blocks[-1][2] + n)
        else:
            blocks.append((i, j, n))
    blocks.append((len(a), len(b), 0))
    return blocks


def _unique_anchors(
    a: Sequence[str], alo: int, ahi: int, b: Sequence[str], blo: int, bhi: int
) -> list[tuple[int, int]]:
    """The longest increasing run of lines that occur once in a[alo:ahi] and once in b[blo:bhi]."""
    twice = -1
    in_b: dict[str, int] = {}  # line -> its index in b, or `twice`
    for j in range(blo, bhi):
        in_b[b[j]] = twice if b[j] in in_b else j
    in_a: dict[str, int] = {}  # line -> its index in a if also once in b, or `twice`
    for i in range(alo, ahi):
        line = a[i]
        if in_b.get(line, twice) != twice:
            in_a[line] = twice if line in in_a else i
    # In the order of a: each line entered in_a at its first (only) index.
    candidates = [(i, in_b[a[i]]) for i in in_a.values() if i != twice]
    del in_a, in_b  # before the piles grow
    # Patience sorting: tops[k] is the smallest j ending an increasing run of k + 1.
    tops: list[int] = []
    top_pair: list[int] = []  # index in candidates of each pile's top
    back: list[int] = []  # for each candidate, the candidate before it in its run
    for index, (_, j) in enumerate(candidates):
        k = bisect.bisect_left(tops, j)
        back.append(top_pair[k - 1] if k else -1)
        if k == len(tops):
            tops.append(j)
            top_pair.append(index)
        else:
            tops[k] = j
            top_pair[k] = index
    run = []
    index = top_pair[-1] if top_pair else -1
    while index >= 0:
        run.append(candidates[index])
        index = back[index]
    return run[::-1]


def opcodes(a: Sequence[str], b: Sequence[str]) -> list[Opcode]:
    """As SequenceMatcher.get_opcodes, from matching_blocks()."""
    i = j = 0
    codes: list[Opcode] = []
    for ai, bj, size in matching_blocks(a, b):
        if i < ai and j < bj:
            codes.append(("replace", i, ai, j, bj))
        elif i < ai:
            codes.append(("delete", i, ai, j, bj))
        elif j < bj:
            codes.append(("insert", i, ai, j, bj))
        i, j = ai + size, bj + size
        if size:
            codes.append(("equal", ai, i, bj, j))
    return codes


def grouped_opcodes(codes: list[Opcode], n: int = 3) -> Iterator[list[Opcode]]:
    """As SequenceMatcher.get_grouped_opcodes: hunks with up to n lines of context."""
    if not codes:
        codes = [("equal", 0, 1, 0, 1)]
    codes = list(codes)
    if codes[0][0] == "equal":
        tag, i1, i2, j1, j2 = codes[0]
        codes[0] = tag, max(i1, i2 - n), i2, max(j1, j2 - n), j2
    if codes[-1][0] == "equal":
        tag, i1, i2, j1, j2 = codes[-1]
        codes[-1] = tag, i1, min(i2, i1 + n), j1, min(j2, j1 + n)
    group: list[Opcode] = []
    for tag, i1, i2, j1, j2 in codes:
        if tag == "equal" and i2 - i1 > 2 * n:  # a long unchanged stretch ends the hunk
            group.append((tag, i1, min(i2, i1 + n), j1, min(j2, j1 + n)))
            yield group
            group = []
            i1, j1 = max(i1, i2 - n), max(j1, j2 - n)
        group.append((tag, i1, i2, j1, j2))
    if group and not (len(group) == 1 and group[0][0] == "equal"):
        yield group


def _range(start: int, stop: int) -> str:
    """A hunk header's range, as difflib writes it."""
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start + 1 if length else start},{length}"


def unified_diff(
    a: Sequence[str], b: Sequence[str], fromfile: str = "", tofile: str = "", n: int = 3
) -> Iterator[str]:
    """difflib.unified_diff(a, b, fromfile, tofile, n=n), matched by matching_blocks()."""
    started = False
    for group in grouped_opcodes(opcodes(a, b), n):
        if not started:
            started = True
            yield f"--- {fromfile}\n"
            yield f"+++ {tofile}\n"
        first, last = group[0], group[-1]
        yield f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@\n"
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                yield from (" " + line for line in a[i1:i2])
                continue
            if tag in ("replace", "delete"):
                yield from ("-" + line for line in a[i1:i2])
            if tag in ("replace", "insert"):
                yield from ("+" + line for line in b[j1:j2])
