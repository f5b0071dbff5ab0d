"""Trial plans: deterministic, balanced sides (each condition A as often as B, ±1, per rater), every pair
covered, trap / identical / training trials where they belong."""
from __future__ import annotations

import itertools
import random
from collections import Counter
from pathlib import Path

import pytest

from percomp_ui.sessions.design import spec_from_dict
from percomp_ui.sessions.schedule import (COMPARISON, IDENTICAL, TRAINING, TRAP, TRAP_TRIAL, orient_balanced,
                                          plan_length, plan_trials)


def make_spec(conditions: int = 3, images: int = 2, **fields: object):
    names = ["jpeg", "webp", "avif", "jxl", "heic", "m1", "m2"][:conditions]
    data = {"name": "s", "conditions": names, "images": [f"im{i}.png" for i in range(images)], "target_bpp": 0.3,
            **fields}
    return spec_from_dict(data, Path("/nowhere"))


def side_imbalance(pairs: list[tuple[str, str]]) -> dict[str, int]:
    first, second = Counter(a for a, b in pairs if a != b), Counter(b for a, b in pairs if a != b)
    return {item: first[item] - second[item] for item in set(first) | set(second)}


@pytest.mark.parametrize("seed", range(40))
def test_orientation_balances_any_multigraph(seed: int) -> None:
    rng = random.Random(seed)
    items = [f"c{i}" for i in range(rng.randint(2, 8))]
    pairs = [tuple(rng.sample(items, 2)) for _ in range(rng.randint(1, 60))] + [(items[0], items[0])]
    oriented = orient_balanced(pairs, random.Random(seed))
    assert all(abs(d) <= 1 for d in side_imbalance(oriented).values())
    assert sorted(map(sorted, oriented)) == sorted(map(sorted, pairs))  # the same pairs, possibly swapped
    assert oriented[-1] == (items[0], items[0])


@pytest.mark.parametrize("conditions,images,trials,traps,identical", [
    (2, 1, None, 0, 0), (3, 2, None, 2, 2), (4, 3, 7, 3, 1), (5, 2, 40, 4, 3), (7, 1, None, 1, 0)])
def test_plans_are_balanced_per_rater(conditions: int, images: int, trials: int | None, traps: int,
                                      identical: int) -> None:
    spec = make_spec(conditions, images, trials=trials, traps=traps, identical=identical)
    for rater in ("ann", "bob", "cy", "dee"):
        plan = plan_trials(spec, rater)
        assert len(plan) == plan_length(spec)
        imbalance = side_imbalance([(t.a, t.b) for t in plan])
        assert all(abs(d) <= 1 for d in imbalance.values()), imbalance
        assert [t.index for t in plan] == list(range(len(plan)))


def test_every_pair_on_every_image_once_by_default() -> None:
    spec = make_spec(4, 3, traps=2, identical=2)
    plan = plan_trials(spec, "ann")
    regular = Counter((t.image, *sorted((t.a, t.b))) for t in plan if t.kind == COMPARISON)
    expected = {(image, a, b) for image in spec.image_ids for a, b in itertools.combinations(sorted(spec.conditions), 2)}
    assert set(regular) == expected and set(regular.values()) == {1}


def test_kinds_and_the_training_trial_first() -> None:
    spec = make_spec(3, 2, trials=5, traps=3, identical=2)
    plan = plan_trials(spec, "ann")
    assert plan[0].kind == TRAINING and TRAP in (plan[0].a, plan[0].b)
    kinds = Counter(t.kind for t in plan)
    assert kinds == {TRAINING: 1, COMPARISON: 5, TRAP_TRIAL: 3, IDENTICAL: 2}
    for t in plan:
        assert (TRAP in (t.a, t.b)) == (t.kind in (TRAINING, TRAP_TRIAL))
        assert (t.a == t.b) == (t.kind == IDENTICAL)
        assert t.image in spec.image_ids
    no_training = plan_trials(make_spec(3, 2, training=False), "ann")
    assert TRAINING not in {t.kind for t in no_training}


def test_plans_are_deterministic_and_differ_between_raters_and_seeds() -> None:
    spec = make_spec(4, 2)
    assert plan_trials(spec, "ann") == plan_trials(make_spec(4, 2), "ann")
    assert plan_trials(spec, "ann") != plan_trials(spec, "bob")
    assert plan_trials(spec, "ann") != plan_trials(make_spec(4, 2, seed=9), "ann")


def test_more_trials_than_pairs_cycle_through_all_pairs_evenly() -> None:
    spec = make_spec(3, 1, trials=7, traps=0, identical=0)  # 3 pairs: 7 = 3 + 3 + 1
    counts = Counter(tuple(sorted((t.a, t.b))) for t in plan_trials(spec, "ann") if t.kind == COMPARISON)
    assert sorted(counts.values()) == [2, 2, 3]


def test_sides_are_balanced_across_raters_too() -> None:
    """Over many raters each condition's A share on regular trials is close to one half."""
    spec = make_spec(3, 2, traps=0, identical=0, training=False)
    firsts = Counter(t.a for rater in range(200) for t in plan_trials(spec, f"r{rater}"))
    total = sum(firsts.values())
    assert all(abs(n / total - 1 / 3) < 0.03 for n in firsts.values())
