"""Linearizability checker for histories of concurrent operations on independent registers (one per key).

Operations: read(key) -> value or None (absent), write(key, v) -> ok, cas(key, expected, new) -> ok or fail
(expected None means "the key is absent"). Each operation carries its invocation and completion times; an
operation whose outcome is unknown (timeout, connection error) may take effect at any point after its
invocation, or never: its completion is at infinity and the search may leave it out.

Keys are independent registers, so each key's sub-history is checked alone (linearizability is local). Per
key the search is Wing & Gong's, with Lowe's memoisation: walk the events in time order, try to linearize
each pending operation whose invocation has been seen, backtrack when an operation's completion is reached
before it was linearized, and never revisit a (set of linearized operations, register value) pair. Two
refinements for unknown outcomes, whose completions never force a choice: at each point the completed
operations are tried before the unknown ones; an unknown operation is tried only where it could help an
operation still to come (one that observes the value it writes, or a failed CAS that needs the current value
gone); and a configuration is skipped when one with the same completed operations and value but fewer unknown
operations was already explored (leaving an unknown operation out never closes a way forward).
"""
import math
from dataclasses import dataclass, field
from typing import Any, Optional

READ, WRITE, CAS = "read", "write", "cas"


@dataclass
class Op:
    """One operation of a history.

    kind: READ, WRITE or CAS. value: the value written (WRITE) or the new value (CAS). expected: CAS's
    expected value (None: the key is absent). output: READ's result (None: absent), CAS's True/False, WRITE's
    True. call/ret: invocation and completion times (one clock for the whole history); ret None means the
    outcome is unknown (then output is ignored). client: who issued it (for messages only).
    """
    kind: str
    key: Any
    call: float
    ret: Optional[float]
    value: Any = None
    expected: Any = None
    output: Any = None
    client: Any = None
    index: int = field(default=-1, compare=False)

    @property
    def unknown(self):
        return self.ret is None

    def __str__(self):
        if self.kind == READ:
            what = "read() -> %r" % (self.output,) if not self.unknown else "read() -> ?"
        elif self.kind == WRITE:
            what = "write(%r)%s" % (self.value, " -> ?" if self.unknown else "")
        else:
            res = "?" if self.unknown else ("ok" if self.output else "fail")
            what = "cas(%r -> %r) -> %s" % (self.expected, self.value, res)
        end = "?" if self.unknown else "%.6f" % self.ret
        return "#%d %s by %s [%.6f, %s]" % (self.index, what, self.client, self.call, end)


@dataclass
class Result:
    """ok: the history is linearizable. key and explanation name the first offending key otherwise."""
    ok: bool
    key: Any = None
    explanation: str = ""

    def __bool__(self):
        return self.ok


class BudgetExceeded(Exception):
    """The search took more steps than allowed: neither a proof nor a refutation."""


def step(state, op):
    """The register's sequential specification: (legal, new state) of op applied in state."""
    if op.kind == READ:
        return op.output == state, state
    if op.kind == WRITE:
        return True, op.value
    if op.unknown:  # an unknown CAS that failed had no effect: the same as never linearizing it
        return state == op.expected, op.value
    if op.output:
        return state == op.expected, op.value
    return state != op.expected, state


class _Entry:
    """An invocation or completion event in the doubly linked event list."""
    __slots__ = ("op", "is_call", "match", "prev", "next")

    def __init__(self, op, is_call):
        self.op, self.is_call = op, is_call
        self.match = self.prev = self.next = None


def _event_list(ops):
    """Head sentinel of the events of ops in time order; at equal times invocations come first, so that
    touching intervals count as concurrent (the clock cannot tell which came first)."""
    events = []
    for op in ops:
        call, ret = _Entry(op, True), _Entry(op, False)
        call.match = ret
        events.append(((op.call, 0, op.index), call))
        events.append(((math.inf if op.unknown else op.ret, 1, op.index), ret))
    events.sort(key=lambda e: e[0])
    head = prev = _Entry(None, False)
    for _, entry in events:
        prev.next, entry.prev = entry, prev
        prev = entry
    return head


def _lift(call):
    """Removes an invocation and its completion from the list (the operation is linearized)."""
    for e in (call, call.match):
        e.prev.next = e.next
        if e.next is not None:
            e.next.prev = e.prev


def _unlift(call):
    for e in (call.match, call):
        e.prev.next = e
        if e.next is not None:
            e.next.prev = e


class _Observers:
    """Counts, per value, the operations not yet linearized that an unknown operation could help: those that
    observe the value (reads returning it, CAS expecting it) and known failed CAS (helped by any value other
    than the one they expected)."""

    def __init__(self, ops):
        self.observing, self.failing = {}, {}
        for op in ops:
            self.add(op, 1)

    def add(self, op, n):
        if op.kind == READ:
            self.observing[op.output] = self.observing.get(op.output, 0) + n
        elif op.kind == CAS and (op.unknown or op.output):
            self.observing[op.expected] = self.observing.get(op.expected, 0) + n
        elif op.kind == CAS:
            self.failing[op.expected] = self.failing.get(op.expected, 0) + n

    def useful(self, state, new_state):
        """Whether an unknown op taking the register from state to new_state could help anyone left.

        If not, there is a linearization without it at this point whenever there is one with it: nothing
        left reads new_state, and every failed CAS left is as legal in state as in new_state."""
        return self.observing.get(new_state, 0) > 0 or self.failing.get(state, 0) > 0


def _visit(seen, lin_known, state, lin_unknown):
    """Records a configuration; False if it (or one that dominates it) was already explored."""
    sets = seen.setdefault((lin_known, state), [])
    for u in sets:
        if u & ~lin_unknown == 0:
            return False
    sets.append(lin_unknown)
    return True


def check_key(ops, initial=None, budget=2_000_000):
    """Checks one key's operations (all READ/WRITE/CAS on that key) against a register starting at initial.

    Returns (True, "") or (False, explanation). Reads with an unknown outcome carry no information and are
    ignored. Raises BudgetExceeded after budget search steps.
    """
    ops = [op for op in ops if not (op.kind == READ and op.unknown)]
    for i, op in enumerate(sorted(ops, key=lambda o: o.call)):
        if op.index < 0:  # numbers for messages and event order; check() numbers the whole history
            op.index = i
    known = sum(1 for op in ops if not op.unknown)
    if known == 0:
        return True, ""
    bits = {id(op): 1 << n for n, op in enumerate(ops)}
    head = _event_list(ops)
    observers = _Observers(ops)
    state, lin_known, lin_unknown, done = initial, 0, 0, 0
    # (known ops linearized, state) -> the sets of unknown ops linearized with them so far. A configuration
    # with a superset of those unknown ops is dominated: an unknown op may also never take effect, so every
    # way to finish from the larger set works from the smaller one too.
    seen = {}
    stack = []  # (call entry, state before it, pass)
    best = (-1, None, None, None)  # (done, linearized ops, state, op whose completion forced a backtrack)
    entry, phase = head.next, 0  # pass 0 tries the completed ops of the window, pass 1 the unknown ones
    steps = 0
    while True:
        steps += 1
        if steps > budget:
            raise BudgetExceeded("more than %d search steps over %d operations" % (budget, len(ops)))
        if entry.is_call:
            op = entry.op
            if op.unknown == bool(phase):
                legal, new_state = step(state, op)
                if op.unknown:
                    legal = legal and observers.useful(state, new_state)
                bit = bits[id(op)]
                if legal and _visit(seen, lin_known | (0 if op.unknown else bit), new_state,
                                    lin_unknown | (bit if op.unknown else 0)):
                    stack.append((entry, state, phase))
                    state = new_state
                    observers.add(op, -1)
                    if op.unknown:
                        lin_unknown |= bit
                    else:
                        lin_known |= bit
                        done += 1
                        if done == known:  # the unknown ops left may never have taken effect
                            return True, ""
                    _lift(entry)
                    entry, phase = head.next, 0
                    continue
            entry = entry.next
            continue
        if phase == 0:  # the window's completed ops are tried; now its unknown ones
            entry, phase = head.next, 1
            continue
        # A completion reached before its operation was linearized: undo the latest choice.
        if done > best[0]:
            best = (done, [e.op for e, _, _ in stack], state, entry.op)
        if not stack:
            return False, _explain(ops, known, initial, best)
        call, state, phase = stack.pop()
        observers.add(call.op, 1)
        if call.op.unknown:
            lin_unknown &= ~bits[id(call.op)]
        else:
            lin_known &= ~bits[id(call.op)]
            done -= 1
        _unlift(call)
        entry = call.next


def _written(ops):
    return {op.value for op in ops if op.kind in (WRITE, CAS)}


def _explain(ops, known, initial, best):
    """A short explanation: the most specific cause found, then the deepest partial linearization."""
    written = _written(ops)
    for op in sorted(ops, key=lambda o: o.call):
        if op.kind == READ and op.output is not None and op.output != initial and op.output not in written:
            return "%s returned a value that no operation ever wrote" % op
    done, order, state, stuck = best
    tail = order[-4:]
    lines = ["no linearization: at most %d of %d completed operations can be ordered; then" % (done, known),
             "  %s cannot take effect: the register holds %r after" % (stuck, state)]
    if len(order) > len(tail):
        lines.append("    ... %d earlier operations" % (len(order) - len(tail)))
    lines += ["    %s" % op for op in tail] or ["    (nothing: the initial value)"]
    return "\n".join(lines)


def check(history, initial=None, budget=2_000_000):
    """Checks a whole history (a list of Op) key by key, keys in order of their first operation.

    initial: a register value for every key, or a dict {key: value} (missing keys start absent).
    Returns Result(True) or Result(False, key, explanation) for the first offending key.
    """
    by_key = {}
    for i, op in enumerate(sorted(history, key=lambda o: o.call)):
        op.index = i
        by_key.setdefault(op.key, []).append(op)
    for key, ops in by_key.items():
        init = initial.get(key) if isinstance(initial, dict) else initial
        ok, why = check_key(ops, init, budget)
        if not ok:
            return Result(False, key, "key %r: %s" % (key, why))
    return Result(True)


def lost_writes(history, final):
    """Acknowledged writes that the final state lost.

    final: {key: value (None if absent)} read after the history ended. An acknowledged WRITE or successful
    CAS of v on key k is lost unless k's final value is v or was written by an operation that did not
    complete before that write was invoked (so that it may be ordered later). Returns messages, one per
    lost write.
    """
    writers = {}
    for op in history:
        if op.kind in (WRITE, CAS):
            writers.setdefault((op.key, op.value), []).append(op)
    lost = []
    for op in history:
        if op.unknown or not (op.kind == WRITE or (op.kind == CAS and op.output)):
            continue
        now = final.get(op.key)
        if now == op.value:
            continue
        later = [w for w in writers.get((op.key, now), []) if w.unknown or w.ret >= op.call]
        if not later:
            lost.append("key %r: acknowledged %s lost: the final value is %r" % (op.key, op, now))
    return lost
