"""The linearizability checker (linearizability.py) on hand-made histories, no server needed: legal ones must
pass, illegal ones must be reported with the offending key; random small histories are cross-checked against
a brute-force search over every order, and a long legal history must be checked quickly.
"""
import itertools
import random
import time

import pytest

from linearizability import CAS, READ, WRITE, BudgetExceeded, Op, check, check_key, lost_writes, step


class H(list):
    """A history under construction; times are arbitrary units, ret=None is an unknown outcome."""

    def read(self, out, call, ret, key="k", client="c"):
        self.append(Op(READ, key, call, ret, output=out, client=client))
        return self

    def write(self, v, call, ret, key="k", client="c"):
        self.append(Op(WRITE, key, call, ret, value=v, output=True, client=client))
        return self

    def cas(self, exp, new, ok, call, ret, key="k", client="c"):
        self.append(Op(CAS, key, call, ret, value=new, expected=exp, output=ok, client=client))
        return self


def legal(h, initial=None):
    res = check(h, initial)
    assert res.ok, res.explanation
    return res


def illegal(h, key="k", initial=None):
    res = check(h, initial)
    assert not res.ok, "history reported linearizable: %s" % [str(op) for op in h]
    assert res.key == key
    assert res.explanation
    return res


# legal histories -----------------------------------------------------------------------------------

def test_empty_and_sequential():
    legal(H())
    legal(H().read(None, 0, 1).write("a", 2, 3).read("a", 4, 5).write("b", 6, 7).read("b", 8, 9))


def test_initial_value():
    legal(H().read("x", 0, 1), initial="x")
    legal(H().read("x", 0, 1, key="k1").read(None, 0, 1, key="k2"), initial={"k1": "x"})
    illegal(H().read(None, 0, 1), initial="x")


@pytest.mark.parametrize("first,second", [("a", "b"), ("b", "a")])
def test_overlapping_writes_read_in_either_order(first, second):
    # both writes span both reads, so either write may come first
    h = H().write("a", 0, 10, client="w1").write("b", 0, 10, client="w2")
    legal(h.read(first, 1, 2, client="r").read(second, 3, 4, client="r"))


def test_overlapping_writes_then_settled():
    h = H().write("a", 0, 10).write("b", 1, 9)
    legal(H(h).read("a", 11, 12).read("a", 13, 14))
    legal(H(h).read("b", 11, 12).read("b", 13, 14))


def test_read_concurrent_with_write_sees_old_or_new():
    legal(H().write("a", 0, 1).write("b", 2, 6).read("a", 3, 4))
    legal(H().write("a", 0, 1).write("b", 2, 6).read("b", 3, 4))


def test_unknown_write_taken_or_not():
    legal(H().write("a", 0, None).read("a", 5, 6))
    legal(H().write("a", 0, None).read(None, 5, 6))
    # not yet, then later: an unknown write may take effect long after it was sent
    legal(H().write("a", 0, None).read(None, 5, 6).read("a", 7, 8))
    # an unknown write that never happened, while others went on
    legal(H().write("a", 0, None).write("b", 1, 2).read("b", 3, 4).read("b", 100, 101))


def test_unknown_write_cannot_take_effect_before_its_invocation():
    illegal(H().read("a", 0, 1).write("a", 2, None))


def test_unknown_write_cannot_take_effect_twice():
    illegal(H().write("a", 0, None).read("a", 5, 6).write("b", 7, 8).read("a", 9, 10))


def test_unknown_write_needed_only_by_a_failed_cas():
    # nothing reads 'b', but the CAS expecting 'a' failed: the unknown write must have taken effect before it
    legal(H().write("a", 0, 1).write("b", 2, None).cas("a", "c", False, 5, 6))
    illegal(H().write("a", 0, 1).cas("a", "c", False, 5, 6))


def test_unknown_cas_taken_or_not():
    base = H().write("a", 0, 1).cas("a", "b", None, 2, None)
    legal(H(base).read("b", 5, 6))
    legal(H(base).read("a", 5, 6))
    # it cannot succeed once its expected value is gone
    illegal(H(base).write("c", 3, 4).read("b", 5, 6))


def test_concurrent_cas_one_wins():
    legal(H().write("a", 0, 1).cas("a", "b", True, 2, 5, client="x").cas("a", "c", False, 2, 5, client="y")
          .read("b", 6, 7))
    legal(H().cas(None, "a", True, 0, 3, client="x").cas(None, "b", False, 1, 2, client="y"))


def test_failed_cas_needs_a_different_value():
    legal(H().write("a", 0, 1).cas("z", "b", False, 2, 3).read("a", 4, 5))
    illegal(H().write("a", 0, 1).cas("a", "b", False, 2, 3))


def test_touching_intervals_are_concurrent():
    # ret == call: the clock cannot order them, so either order is allowed
    legal(H().read(None, 0, 5).write("a", 5, 6))
    legal(H().write("a", 0, 5).read(None, 5, 6))


def test_independent_keys():
    h = H().write("a", 0, 1, key="x").write("b", 0, 1, key="y").read("a", 2, 3, key="x").read("b", 2, 3, key="y")
    legal(h)


# illegal histories ---------------------------------------------------------------------------------

def test_stale_read_after_completed_write():
    res = illegal(H().write("a", 0, 1).write("b", 2, 3).read("a", 4, 5))
    assert "read() -> 'a'" in res.explanation


def test_read_of_a_value_never_written():
    res = illegal(H().write("a", 0, 1).read("zz", 2, 3))
    assert "no operation ever wrote" in res.explanation


def test_lost_acknowledged_write():
    illegal(H().write("a", 0, 1).read(None, 2, 3))
    illegal(H().write("a", 0, 1).write("b", 2, 3).read("b", 4, 5).read("a", 6, 7))


def test_two_successful_cas_from_same_expected_value():
    res = illegal(H().write("a", 0, 1).cas("a", "b", True, 2, 4, client="x").cas("a", "c", True, 3, 5, client="y"))
    assert "cas(" in res.explanation


def test_reads_going_back():
    # concurrent writes, but after both completed two readers see them in opposite orders
    h = H().write("a", 0, 10).write("b", 0, 10).read("b", 11, 12).read("a", 13, 14)
    illegal(h)


def test_first_offending_key_is_reported():
    h = H().write("a", 0, 1, key="good").read("a", 2, 3, key="good")
    h.write("a", 4, 5, key="bad").read(None, 6, 7, key="bad")
    h.write("a", 8, 9, key="worse").read("q", 10, 11, key="worse")
    res = illegal(h, key="bad")
    assert res.explanation.startswith("key 'bad'")


def test_lost_writes_against_final_state():
    h = H().write("a", 0, 1).write("b", 2, 3)
    assert lost_writes(h, {"k": "b"}) == []
    assert len(lost_writes(h, {"k": "a"})) == 1  # 'b' lost: 'a' was written before it
    assert len(lost_writes(h, {})) == 2
    # an overlapping or unknown later write may legitimately overwrite an acknowledged one
    assert lost_writes(H().write("a", 0, 3).write("b", 1, 2), {"k": "a"}) == []
    assert lost_writes(H().write("a", 0, 1).write("c", 2, None), {"k": "c"}) == []
    assert lost_writes(H().cas(None, "a", True, 0, 1).cas("x", "y", False, 2, 3), {"k": "a"}) == []
    assert len(lost_writes(H().cas(None, "a", True, 0, 1), {"k": None})) == 1


def test_budget_is_enforced():
    h = simulated_register(random.Random(3), clients=3, ops_per_client=50)
    assert check_key(h)[0]
    with pytest.raises(BudgetExceeded):
        check_key(h, budget=100)


# cross-check against brute force --------------------------------------------------------------------

def brute_force(ops, initial=None):
    """Linearizable iff some order of the completed ops plus any subset of the unknown ones respects real
    time (an op that completed before another was invoked comes first) and the register's specification."""
    known = [op for op in ops if not (op.kind == READ and op.unknown)]
    must = [op for op in known if not op.unknown]
    maybe = [op for op in known if op.unknown]
    for n in range(len(maybe) + 1):
        for extra in itertools.combinations(maybe, n):
            for order in itertools.permutations(must + list(extra)):
                if not all(not (b.ret is not None and b.ret < a.call)
                           for i, a in enumerate(order) for b in order[i + 1:]):
                    continue
                state, ok = initial, True
                for op in order:
                    ok, state = step(state, op)
                    if not ok:
                        break
                if ok:
                    return True
    return False


def random_history(rng, n):
    h = H()
    for i in range(n):
        call = rng.randint(0, 12)
        ret = None if rng.random() < 0.2 else call + rng.randint(0, 4)
        kind = rng.choice((READ, WRITE, CAS))
        if kind == READ:
            h.read(rng.choice((None, 1, 2)), call, ret, client=i)
        elif kind == WRITE:
            h.write(rng.choice((1, 2)), call, ret, client=i)
        else:
            h.cas(rng.choice((None, 1, 2)), rng.choice((1, 2)), rng.random() < 0.6, call, ret, client=i)
    return h


def test_agrees_with_brute_force_on_random_small_histories():
    rng = random.Random(12)
    verdicts = {True: 0, False: 0}
    for _ in range(600):
        h = random_history(rng, rng.randint(1, 6))
        expected = brute_force(h)
        ok, why = check_key(h)
        assert ok == expected, "checker says %s, brute force %s for %s" % (ok, expected, [str(o) for o in h])
        assert ok or why
        verdicts[ok] += 1
    assert verdicts[True] > 50 and verdicts[False] > 50, verdicts  # both kinds were exercised


def simulated_register(rng, clients=6, ops_per_client=150, unknown_rate=0.05):
    """A history of a real atomic register: each op takes effect at one instant inside its interval."""
    events, value, counter = [], None, itertools.count()
    clocks = [0.0] * clients
    pending = []
    for c in range(clients):
        for _ in range(ops_per_client):
            call = clocks[c] + rng.random()
            point = call + rng.random()
            ret = point + rng.random()
            clocks[c] = ret
            pending.append((point, c, call, ret))
    pending.sort()
    h = H()
    for point, c, call, ret in pending:
        kind = rng.choice((READ, WRITE, CAS))
        unknown = rng.random() < unknown_rate
        if kind == READ:
            h.read(value, call, ret, client=c)
        elif kind == WRITE:
            value = "v%d" % next(counter)
            h.write(value, call, None if unknown else ret, client=c)
        else:
            exp, new = rng.choice((value, "nope")), "v%d" % next(counter)
            ok = exp == value
            value = new if ok else value
            h.cas(exp, new, ok, call, None if unknown else ret, client=c)
    return h


def test_long_legal_history_is_checked_quickly():
    h = simulated_register(random.Random(5))
    t = time.monotonic()
    legal(h)
    assert time.monotonic() - t < 10


def test_long_history_with_one_stale_read_is_caught():
    rng = random.Random(6)
    h = simulated_register(rng)
    reads = [i for i, op in enumerate(h) if op.kind == READ and op.output is not None]
    # make a late read return a value that was overwritten long before it was invoked
    for i in reversed(reads):
        op = h[i]
        older = [w for w in h if w.kind == WRITE and not w.unknown and w.ret < op.call - 5 and w.value != op.output]
        if older:
            h[i] = Op(READ, op.key, op.call, op.ret, output=older[0].value, client=op.client)
            break
    else:
        pytest.fail("no read to corrupt")
    illegal(h)
