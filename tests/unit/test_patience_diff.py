"""patience_diff: a valid unified diff, difflib's format, in work that grows with the input."""

from __future__ import annotations

import difflib
import random

import pytest

from sctools.patience_diff import matching_blocks, unified_diff


def patched(a: list[str], diff: list[str]) -> list[str]:
    """Apply a unified diff to `a` (enough of `patch` for these tests)."""
    result, i = [], 0
    for line in diff:
        if line.startswith(("--- ", "+++ ")):
            continue
        if line.startswith("@@"):
            old = line.split()[1][1:].split(",")
            start = int(old[0]) - (0 if len(old) == 2 and old[1] == "0" else 1)
            result += a[i:start]
            i = start
        elif line[0] == " ":
            assert a[i] == line[1:]
            result.append(a[i])
            i += 1
        elif line[0] == "-":
            assert a[i] == line[1:]
            i += 1
        else:
            result.append(line[1:])
    return result + a[i:]


def random_pair(rng: random.Random) -> tuple[list[str], list[str]]:
    alphabet = [f"line {k}\n" for k in range(rng.randint(1, 8))]  # many repeats
    a = [rng.choice(alphabet) for _ in range(rng.randint(0, 40))]
    b = list(a)
    for _ in range(rng.randint(0, 8)):
        choice = rng.random()
        if choice < 0.4 and b:
            del b[rng.randrange(len(b))]
        elif choice < 0.8:
            b.insert(rng.randint(0, len(b)), rng.choice([*alphabet, "new\n"]))
        elif b:
            b[rng.randrange(len(b))] = "changed\n"
    return a, b


@pytest.mark.parametrize("seed", range(5))
def test_the_diff_turns_the_old_lines_into_the_new(seed):
    rng = random.Random(seed)
    for _ in range(400):
        a, b = random_pair(rng)
        blocks = matching_blocks(a, b)
        assert blocks[-1] == (len(a), len(b), 0)
        end_a = end_b = 0
        for i, j, n in blocks:
            assert i >= end_a and j >= end_b and a[i : i + n] == b[j : j + n]
            end_a, end_b = i + n, j + n
        diff = list(unified_diff(a, b, "a/f", "b/f"))
        assert patched(a, diff) == b
        assert bool(diff) == (a != b)


def test_the_format_is_difflibs():
    a = [f"- project: p{n}\n  description: d{n}\n" for n in range(40)]
    a = [line for pair in a for line in pair.splitlines(keepends=True)]
    b = list(a)
    b[11] = "  description: changed\n"
    del b[40:42]
    b.insert(70, "- project: new\n")
    assert list(unified_diff(a, b, "a/x", "b/x")) == list(difflib.unified_diff(a, b, "a/x", "b/x"))
    assert list(unified_diff(a, a)) == []
    assert list(unified_diff([], ["x\n"], "/dev/null", "b/x")) == list(
        difflib.unified_diff([], ["x\n"], "/dev/null", "b/x")
    )


class Counted(list):
    """A list that counts the items read from it."""

    reads = 0

    def __getitem__(self, index):
        item = super().__getitem__(index)
        Counted.reads += len(item) if isinstance(index, slice) else 1
        return item

    def __iter__(self):
        Counted.reads += len(self)
        return super().__iter__()


def reads(changes: int) -> int:
    """Lines read to diff a file of `changes` records, each of them changed."""
    a = [f"{kind}: {n}\n" for n in range(changes) for kind in ("- name", "  value", "  more")]
    b = [line.replace("value:", "value: new") for line in a]
    Counted.reads = 0
    list(unified_diff(Counted(a), Counted(b)))
    return Counted.reads


def test_work_grows_with_the_input_not_its_square():
    small, large = reads(500), reads(4000)
    assert large <= 8 * 1.5 * small, (small, large)  # 8 times the input: not 64 times the work
