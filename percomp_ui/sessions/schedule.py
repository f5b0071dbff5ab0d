"""Each rater's trial plan: deterministic from the session seed and the rater id, sides balanced.

A rater gets, in this order, one unscored training trial (a condition against the trap, an easy
first decision), then in random order: ``trials`` regular comparisons (every pair of conditions on
every image, in a rater-specific shuffled order, cycled when more are asked for than exist),
``traps`` comparisons of a condition against an obviously worse image (:data:`TRAP`) and
``identical`` comparisons of a condition against itself.

Which condition is shown as A is chosen by :func:`orient_balanced`: over one rater's plan, every
condition (and the trap) is A as often as B, ±1. The plan is recomputed from the stored design on
every request, so it never has to be stored and a resumed rater gets exactly the same trials.
"""
from __future__ import annotations

import hashlib
import itertools
import math
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .design import SessionSpec

TRAP = "trap"  # the key of the obviously worse image in trials, stimuli and votes
TRAINING, COMPARISON, TRAP_TRIAL, IDENTICAL = "training", "comparison", "trap", "identical"


@dataclass(frozen=True)
class Trial:
    """One comparison as shown: ``a`` and ``b`` are the condition keys (or :data:`TRAP`) shown as A and B."""

    index: int  # 0-based position in the rater's plan
    kind: str  # TRAINING, COMPARISON, TRAP_TRIAL or IDENTICAL
    image: str  # image id
    a: str
    b: str


def rater_seed(seed: int, rater: str) -> int:
    """A stable 64-bit seed for one rater of a session (independent of Python's hash randomisation)."""
    return int.from_bytes(hashlib.sha256(f"{seed}\0{rater}".encode()).digest()[:8], "big")


def plan_length(spec: SessionSpec) -> int:
    """How many trials every rater of the session gets (training trial included)."""
    pairs = len(spec.images) * math.comb(len(spec.conditions), 2)
    return int(spec.training) + (spec.trials or pairs) + spec.traps + spec.identical


def plan_trials(spec: SessionSpec, rater: str) -> list[Trial]:
    """The rater's whole plan, training trial first."""
    rng = random.Random(rater_seed(spec.seed, rater))
    images, conditions = list(spec.image_ids), list(spec.conditions)
    slots = [(image, a, b) for image in images for a, b in itertools.combinations(conditions, 2)]
    regular = _take_cycled(slots, spec.trials or len(slots), rng)
    traps = [(image, c, TRAP) for image, c in zip(_cycled(images, spec.traps, rng), _cycled(conditions, spec.traps, rng))]
    identical = [(image, c, c) for image, c in zip(_cycled(images, spec.identical, rng),
                                                   _cycled(conditions, spec.identical, rng))]
    training = [(rng.choice(images), rng.choice(conditions), TRAP)] if spec.training else []
    kinds = [TRAINING] * len(training) + [COMPARISON] * len(regular) + [TRAP_TRIAL] * len(traps) + \
        [IDENTICAL] * len(identical)
    entries = training + regular + traps + identical
    oriented = orient_balanced([(a, b) for _, a, b in entries], rng)
    planned = [(kind, image, a, b) for kind, (image, _, _), (a, b) in zip(kinds, entries, oriented)]
    head, rest = planned[:len(training)], planned[len(training):]
    rng.shuffle(rest)
    return [Trial(i, kind, image, a, b) for i, (kind, image, a, b) in enumerate(head + rest)]


def orient_balanced(pairs: Sequence[tuple[str, str]], rng: random.Random) -> list[tuple[str, str]]:
    """The same pairs, each possibly swapped, so that every item is first as often as second, ±1.

    This is an Euler orientation: every vertex of odd degree is joined to a dummy vertex, which makes
    all degrees even; the edges then split into closed walks, and orienting each edge the way its
    walk runs gives every vertex as many outgoing as incoming edges. Dropping the dummy edges leaves
    each vertex off by at most one. Walks start, branch and run in random directions (``rng``).
    Pairs of an item with itself are balanced by definition and kept as given.
    """
    dummy = object()
    ends: list[tuple[object, object]] = [(a, b) for a, b in pairs]
    degree: dict[object, int] = defaultdict(int)
    for a, b in pairs:
        if a != b:
            degree[a] += 1
            degree[b] += 1
    ends += [(vertex, dummy) for vertex in sorted(degree, key=str) if degree[vertex] % 2]
    incident: dict[object, list[int]] = defaultdict(list)
    for edge, (a, b) in enumerate(ends):
        if a != b:
            incident[a].append(edge)
            incident[b].append(edge)
    for edges in incident.values():
        rng.shuffle(edges)
    used = [a == b for a, b in ends]
    oriented = list(ends)  # pairs of an item with itself stay as given
    starts = list(incident)
    rng.shuffle(starts)
    for start in starts:
        while incident[start]:
            walk, vertex = [], start
            while True:  # with every degree even, a walk can only get stuck where it started
                while incident[vertex] and used[incident[vertex][-1]]:
                    incident[vertex].pop()
                if not incident[vertex]:
                    break
                edge = incident[vertex].pop()
                used[edge] = True
                a, b = ends[edge]
                following = b if a == vertex else a
                walk.append((edge, vertex, following))
                vertex = following
            reverse = rng.random() < 0.5
            for edge, source, target in walk:
                oriented[edge] = (target, source) if reverse else (source, target)
            while incident[start] and used[incident[start][-1]]:
                incident[start].pop()
    return [(str(a), str(b)) for a, b in oriented[:len(pairs)]]


def _cycled(items: Sequence[str], count: int, rng: random.Random) -> list[str]:
    """``count`` items: shuffled copies of ``items`` one after another (each used equally often, ±1)."""
    return _take_cycled(list(items), count, rng)


def _take_cycled(items: list, count: int, rng: random.Random) -> list:
    out: list = []
    while len(out) < count:
        batch = list(items)
        rng.shuffle(batch)
        out += batch[:count - len(out)]
    return out
