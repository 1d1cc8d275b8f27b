"""Two-phase commit: a transaction manager and `rms` resource managers (Gray and Lamport).

The step structure follows TwoPhase.tla from the TLA+ examples (Lamport, "Consensus on
Transaction Commit", 2004). With three resource managers the reachable state space has
exactly 288 distinct states; TLC's examples manifest and stateright's 2pc example agree.

Expected: `consistent` holds; every resource manager can end committed.
"""

from __future__ import annotations

from enum import Enum

from klpcheck import Model, Record, set_at


class Rm(Enum):
    """A resource manager's state."""

    WORKING = "working"
    PREPARED = "prepared"
    COMMITTED = "committed"
    ABORTED = "aborted"


class Tm(Enum):
    """The transaction manager's state."""

    INIT = "init"
    COMMITTED = "committed"
    ABORTED = "aborted"


class State(Record):
    rm: tuple[Rm, ...]
    tm: Tm = Tm.INIT
    tm_prepared: tuple[bool, ...] = ()  # the TM has received Prepared from rm i
    msg_prepared: tuple[bool, ...] = ()  # a Prepared message from rm i is in flight
    msg_commit: bool = False  # the Commit message has been sent
    msg_abort: bool = False  # the Abort message has been sent


def build(rms: int = 3) -> Model[State]:
    """Two-phase commit with ``rms`` resource managers."""
    if rms < 1:
        raise ValueError(f"rms must be at least 1, not {rms}")
    no = (False,) * rms
    model = Model(
        "two_phase_commit",
        init=State(rm=(Rm.WORKING,) * rms, tm_prepared=no, msg_prepared=no),
        doc=__doc__,
    )
    every = range(rms)

    @model.step(
        when=lambda s, r: s.tm is Tm.INIT and s.msg_prepared[r],
        over=every,
        reads={"tm", "msg_prepared[r]"},
        writes={"tm_prepared[r]"},
    )
    def tm_rcv_prepared(s: State, r: int) -> State:
        """The TM receives a Prepared message from resource manager r."""
        return s.replace(tm_prepared=set_at(s.tm_prepared, r, True))

    @model.step(
        when=lambda s: s.tm is Tm.INIT and all(s.tm_prepared),
        reads={"tm", "tm_prepared"},
        writes={"tm", "msg_commit"},
    )
    def tm_commit(s: State) -> State:
        """Every RM has prepared: the TM commits and sends Commit."""
        return s.replace(tm=Tm.COMMITTED, msg_commit=True)

    @model.step(
        when=lambda s: s.tm is Tm.INIT, reads={"tm"}, writes={"tm", "msg_abort"}
    )
    def tm_abort(s: State) -> State:
        """The TM spontaneously aborts and sends Abort."""
        return s.replace(tm=Tm.ABORTED, msg_abort=True)

    @model.step(
        when=lambda s, r: s.rm[r] is Rm.WORKING,
        over=every,
        reads={"rm[r]"},
        writes={"rm[r]", "msg_prepared[r]"},
    )
    def rm_prepare(s: State, r: int) -> State:
        """Resource manager r prepares and tells the TM."""
        return s.replace(
            rm=set_at(s.rm, r, Rm.PREPARED),
            msg_prepared=set_at(s.msg_prepared, r, True),
        )

    @model.step(
        when=lambda s, r: s.rm[r] is Rm.WORKING,
        over=every,
        reads={"rm[r]"},
        writes={"rm[r]"},
    )
    def rm_choose_to_abort(s: State, r: int) -> State:
        """Resource manager r spontaneously aborts."""
        return s.replace(rm=set_at(s.rm, r, Rm.ABORTED))

    @model.step(
        when=lambda s, r: s.msg_commit,
        over=every,
        reads={"msg_commit"},
        writes={"rm[r]"},
    )
    def rm_rcv_commit(s: State, r: int) -> State:
        """Resource manager r receives Commit."""
        return s.replace(rm=set_at(s.rm, r, Rm.COMMITTED))

    @model.step(
        when=lambda s, r: s.msg_abort,
        over=every,
        reads={"msg_abort"},
        writes={"rm[r]"},
    )
    def rm_rcv_abort(s: State, r: int) -> State:
        """Resource manager r receives Abort."""
        return s.replace(rm=set_at(s.rm, r, Rm.ABORTED))

    @model.invariant(reads={"rm"})
    def consistent(s: State) -> bool:
        """No resource manager has committed while another has aborted."""
        return not (Rm.COMMITTED in s.rm and Rm.ABORTED in s.rm)

    @model.reachable(reads={"rm"})
    def all_committed(s: State) -> bool:
        """The transaction can commit everywhere."""
        return all(r is Rm.COMMITTED for r in s.rm)

    return model
