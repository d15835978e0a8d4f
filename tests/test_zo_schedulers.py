"""Schedules: closed-form factors, option errors, and the adaptive q schedule's feedback."""

from __future__ import annotations

import math

import numpy as np
import pytest

import zoo


def test_builtin_schedules_are_registered():
    names = set(zoo.registered("schedulers"))
    assert {"constant", "step", "exponential", "cosine", "warmup", "adaptive"} <= names


def test_step_decay_every_n_and_at_milestones():
    s = zoo.scheduler("step", gamma=0.5, every=10)
    assert [s.factor(t, 100) for t in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]
    m = zoo.scheduler("step", gamma=0.1, milestones=[30, 10])
    assert [m.factor(t, 100) for t in (0, 10, 29, 30)] == pytest.approx([1.0, 0.1, 0.1, 0.01])


def test_exponential_per_step_and_to_a_final_value():
    assert zoo.scheduler("exponential", gamma=0.9).factor(3, 10) == pytest.approx(0.9**3)
    e = zoo.scheduler("exponential", final=0.01)
    assert e.factor(0, 11) == 1.0
    assert e.factor(5, 11) == pytest.approx(0.1)  # halfway on a log scale
    assert e.factor(10, 11) == pytest.approx(0.01)


def test_cosine_with_and_without_warmup():
    c = zoo.scheduler("cosine", final=0.1)
    assert c.factor(0, 11) == 1.0 and c.factor(10, 11) == pytest.approx(0.1)
    assert c.factor(5, 11) == pytest.approx(0.55)
    w = zoo.scheduler("cosine", final=0.0, warmup=4)
    assert [w.factor(t, 14) for t in range(4)] == pytest.approx([0.0, 0.25, 0.5, 0.75])
    assert w.factor(4, 14) == 1.0 and w.factor(13, 14) == pytest.approx(0.0)
    assert w.factor(4 + 9 / 2, 14) == pytest.approx(0.5)


def test_linear_warmup():
    w = zoo.scheduler("warmup", warmup=5, start=0.2)
    assert [w.factor(t, 100) for t in (0, 1, 5, 50)] == pytest.approx([0.2, 0.36, 1.0, 1.0])


@pytest.mark.parametrize("name, options", [
    ("step", {}), ("step", dict(every=0)), ("step", dict(every=5, milestones=[1])), ("step", dict(gamma=0, every=1)),
    ("step", dict(milestones="10")), ("exponential", {}), ("exponential", dict(gamma=0.9, final=0.1)),
    ("exponential", dict(gamma=-1)), ("cosine", dict(final=-1)), ("cosine", dict(warmup=-1)),
    ("warmup", dict(warmup=1.5)), ("adaptive", dict(target_cosine=1.0)), ("adaptive", dict(growth=1.0)),
    ("adaptive", dict(max_factor=0.5, min_factor=1.0)), ("cosine", dict(final="x")),
])
def test_bad_options_are_config_errors(name, options):
    with pytest.raises(zoo.ConfigError):
        zoo.scheduler(name, **options)


def test_adaptive_raises_q_when_the_spread_is_high_and_settles_where_the_target_is_met():
    # simulate an estimator whose relative spread follows RGE on a linear f in d = 64:
    # r^2 = tr Cov / E|g|^2 = (d + 1) / (d + q + 1); the q that gives cosine 0.8,
    # sqrt(q / (q + d + 1)) = 0.8, is 65 * 0.64 / 0.36 = 115.6
    d, q0 = 64, 8
    s = zoo.scheduler("adaptive", target_cosine=0.8, growth=2.0, max_factor=64, memory=0.0)
    for _ in range(30):
        q = max(1, round(q0 * s.factor(0, 1)))
        r = math.sqrt((d + 1) / (d + q + 1))
        s.observe({"relative_spread": r})
    q = q0 * s.factor(0, 1)
    assert q == pytest.approx(65 * 0.64 / 0.36, rel=0.05)
    # a quiet estimate lowers it again, but not below min_factor
    for _ in range(20):
        s.observe({"relative_spread": 0.01})
    assert s.factor(0, 1) == 1.0


def test_adaptive_ignores_steps_without_a_spread_and_is_capped():
    s = zoo.scheduler("adaptive", max_factor=4)
    s.observe(None)
    s.observe({"rows": 3.0})
    assert s.factor(0, 1) == 1.0
    for _ in range(10):
        s.observe({"relative_spread": 0.99})
    assert s.factor(5, 10) == 4.0
    state = s.state_dict()
    t = zoo.scheduler("adaptive", max_factor=4)
    t.load_state_dict(state)
    assert t.factor(0, 1) == 4.0


def test_adaptive_with_a_real_estimator_in_the_loop():
    # the estimator measures its own spread; the schedule reads it through last_stats
    d = 48
    z = np.random.default_rng(0).normal(size=d)

    def lin(x):
        return (x @ z)[:, None]

    est = zoo.estimator("rge", q=4, difference="central")
    s = zoo.scheduler("adaptive", target_cosine=0.7, max_factor=32)
    for _ in range(12):
        est.q = max(1, round(4 * s.factor(0, 1)))
        est.vjp(lin, np.zeros((64, d)), rng=_)
        s.observe(est.last_stats)
    # cosine 0.7 on a linear f in d = 48 needs q ~ (d + 1) * 0.49 / 0.51 = 47
    assert 25 <= est.q <= 90, est.q
