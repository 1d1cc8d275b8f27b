"""The RFC 6/9 per-task consistency model (Feb 2015, `klp_universe`) of the seed thread.

Josh Poimboeuf's "[RFC PATCH 6/9] livepatch: create per-task consistency model" gave every
task a `klp_universe` (OLD or NEW) and the livepatch core a global `klp_universe_goal` and
`klp_transition_patch`. The ftrace handler redirects a call of a patched function `foo` to
the top entry of `func_stack`, except that an OLD task steps one entry down (or to the
original `foo`) while that entry's `func->transition` is set. Tasks switch to the goal
universe one by one at safe points; when all have switched, the transition completes. For
the OLD goal the RFC completes with `klp_unpatch_objects()` (`list_del_rcu`), then
`synchronize_rcu()` ("prevent ftrace handler from reading old func->transition"), then
`klp_complete_transition()`, which clears the `transition` flags. The seed thread is
Miroslav Benes asking whether that is enough (shared/seeds/000_059a21e8d6a6768d.txt).

Scenarios (`-D scenario=`): `patch` (enable patch_1 on an unpatched `foo`), `unpatch`
(disable patch_1, the only patch on `foo`), `stacked` (Miroslav's case and the default:
`foo` is patched by foo_1 of patch_1 and foo_2 of patch_2; disable patch_2).

Expected verdicts (keep_going, full search; exact numbers in models/manifest.toml):

| params | verdict |
|---|---|
| stacked (default) | holds: both of Miroslav's scenarios are answered by Josh |
| stacked, `clear_first=true` (Miroslav's fix) | violates `no_wrong_universe_call` |
| stacked, `sync=false` | violates `no_wrong_universe_call` only |
| stacked, `rcu_watching=false` (pre-842c08846420) | violates both invariants |
| stacked, `flag_all=true` | violates `no_wrong_universe_call` |
| patch, any of the four variants | holds |
| unpatch, `clear_first=true` | violates `no_wrong_universe_call` |
| unpatch, `sync=false` or `rcu_watching=false` | holds |

Where this differs from a naive reading of history, and why:

- `sync=false` does not violate `no_removed_function_called`. The only grace periods in
  the model are the ones the livepatch code waits for, so without `synchronize_rcu()` no
  removed klp_func ever becomes reusable memory here. Adding the grace periods the
  kernel runs in the background would not change the verdict either: they wait for
  honoured readers, and an honoured reader can only have found a klp_func on the list
  inside a read-side section that such a grace period waits for. What goes wrong without
  the sync is the *decision*: a reader that found foo_2 before `list_del_rcu` reads
  `transition == 0` after `klp_complete_transition()` and sends an OLD task into foo_2.
- In the `unpatch` scenario, `sync=false` and `rcu_watching=false` both hold. foo_1 is the
  last entry of `func_stack`, so `klp_unpatch_func()` first calls
  `unregister_ftrace_function()`, and ftrace_shutdown() frees dynamic ops only after
  `schedule_on_each_cpu(ftrace_sync)`, which waits for every handler in flight whether or
  not RCU watches it (ftrace's own comment: "the function tracers can be called where RCU
  is not watching (like before user_exit())"). After that no handler is running and none
  can start, so nobody reads `transition` again. Here only a `func_stack` with an entry
  left below keeps the handler registered through the unpatch, so the race that
  842c08846420 fixed needs stacked patches, as its title says ("Fix stacking of patches
  with respect to RCU"). In v4.12 the same hole also reached the patching side's IDLE
  state and the reverse path (livepatch-protocol.md §3 #3); the RFC had no IDLE state,
  and this model has no reverse.
- The `patch` scenario holds under every variant: the RFC has no sync on the patching
  side, and Josh's answer (case 1 of the seed) is that it needs none, because once every
  task is NEW the handler picks the top entry whatever `transition` says.
- `clear_first=true` breaks `no_wrong_universe_call` but not `no_removed_function_called`:
  the reader that picks foo_2 with `transition == 0` found it on the list, so the grace
  period that starts after `list_del_rcu` waits for it. The damage is the wrong universe,
  and later the patch module's code running after the transition "completed".

Abstractions, and why each is safe for the seed's question:

- One patched function, foo, and calls that do not nest. Every race in the thread is
  about one handler invocation deciding against a concurrent completion; a second
  function or a call chain adds states, not behaviours of that decision.
- Sequential consistency: the smp_wmb/smp_rmb pairs of the RFC are not modelled, and
  nothing here needs them to be broken. Weak-memory mutants belong to another model.
- Tasks switch universe only outside foo and outside the handler
  (`klp_update_task_universe`), with the thread flag left out (see that step).
- The admin side is one sequential actor (`admin`): the sysfs write and the transition
  work run under klp_mutex, one after the other. Its loops over tasks are single steps
  (see `klp_init_transition`, `klp_try_complete_transition`). No reverse, no fork, no
  exit, no module removal: the seed does not discuss them.
- Where RCU does not watch is a constant of the run, not a state: task 0 with
  `rcu_watching=false`. A task that is sometimes watched and sometimes not would only
  add interleavings in which the unwatched case is already reachable.
- `func_life` is ghost state, read only by `no_removed_function_called`: the kernel
  has no such field, but the property needs to know which grace periods began after a
  removal.
- A task's handler locals (`func`, `target`) are cleared once dead, so equal
  situations are one state.

Sources: the seed email (VERIFIED: the completion order, the handler's
`rcu_read_lock`/`list_first_or_null_rcu`/`transition`/universe test, which funcs get
`transition`); pre-RFC kernel/livepatch/core.c of 2015 (VERIFIED: `klp_enable_func` does
`list_add_rcu` then `register_ftrace_function`; `klp_disable_func` on the last entry does
`unregister_ftrace_function` then `list_del_rcu`; ops are `FTRACE_OPS_FL_DYNAMIC`);
shared/livepatch-protocol.md §2, §3 #1–#3. RECALLED, not checked here: the RFC's
`klp_init_transition()` / `klp_start_transition()` split and the name
`klp_update_task_universe()`; that ftrace called klp's handler with preemption disabled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from itertools import pairwise

from klpcheck import Model, Record, set_at


class Scenario(Enum):
    """Which transition the model runs."""

    PATCH = "patch"  # enable patch_1: foo -> foo_1
    UNPATCH = "unpatch"  # disable patch_1, the only patch on foo
    STACKED = "stacked"  # foo_1 (patch_1) under foo_2 (patch_2); disable patch_2


class Universe(Enum):
    """`task->klp_universe` and `klp_universe_goal` (RFC 6/9)."""

    OLD = "KLP_UNIVERSE_OLD"
    NEW = "KLP_UNIVERSE_NEW"


class Patch(Enum):
    """A `struct klp_patch`; the value of `klp_transition_patch` when not NULL."""

    PATCH_1 = "patch_1"
    PATCH_2 = "patch_2"


class KlpFunc(Enum):
    """A `struct klp_func` for foo: one patch's entry in `func_stack`.

    The value is the index of the func in the per-func tuples of the state.
    """

    FOO_1 = 0  # patch_1's
    FOO_2 = 1  # patch_2's


class Code(Enum):
    """The code a call of foo finally runs."""

    FOO = "foo"  # the original function
    FOO_1 = "foo_1"
    FOO_2 = "foo_2"


class Life(Enum):
    """Where a klp_func is in its RCU life (ghost bookkeeping for the second invariant)."""

    UNLINKED = "never added to func_stack yet"
    LIVE = "on func_stack"
    REMOVED = "list_del_rcu'd; readers may still hold it"
    RETIRING = "removed, and a grace period that began after the removal is running"
    FREED = "a grace period that began after the removal has ended"


class Pc(Enum):
    """Where a task is in a call of foo."""

    OUTSIDE = "outside foo: a safe point"
    HANDLER_ENTRY = "in klp_ftrace_handler(), before rcu_read_lock()"
    RCU_LOCKED = "after rcu_read_lock()"
    HAS_FUNC = "read the top of func_stack"
    SAW_NO_TRANSITION = "read func->transition == 0"
    SAW_TRANSITION = "read func->transition == 1"
    SAW_OLD = "read klp_universe == OLD"
    SAW_NEW = "read klp_universe == NEW"
    PICKED = "chose the code to run"
    UNLOCKED = "after rcu_read_unlock(), still in the handler"
    RUNNING = "running the chosen code"


class Admin(Enum):
    """What the livepatch side (sysfs write, then the transition work) does next.

    FTRACE_SYNC and RCU_GRACE_PERIOD are the two blocking waits: the admin is inside
    `unregister_ftrace_function()` and `synchronize_rcu()` respectively.
    """

    KLP_INIT_TRANSITION = "klp_init_transition"
    KLP_PATCH_OBJECTS = "klp_patch_objects"
    KLP_START_TRANSITION = "klp_start_transition"
    KLP_TRY_COMPLETE_TRANSITION = "klp_try_complete_transition"
    CLEAR_TRANSITION_EARLY = "clear func->transition (Miroslav's order)"
    UNREGISTER_FTRACE_FUNCTION = "unregister_ftrace_function"
    FTRACE_SYNC = "schedule_on_each_cpu(ftrace_sync)"
    KLP_UNPATCH_OBJECTS = "klp_unpatch_objects"
    SYNCHRONIZE_RCU = "synchronize_rcu"
    RCU_GRACE_PERIOD = "waiting in synchronize_rcu"
    KLP_COMPLETE_TRANSITION = "klp_complete_transition"
    DONE = "transition complete"


# The handler holds a klp_func pointer from list_first_or_null_rcu() until it has chosen.
HOLDS_FUNC = frozenset(
    {Pc.HAS_FUNC, Pc.SAW_NO_TRANSITION, Pc.SAW_TRANSITION, Pc.SAW_OLD, Pc.SAW_NEW}
)
# Inside an RCU read-side critical section.
READER = HOLDS_FUNC | {Pc.RCU_LOCKED, Pc.PICKED}
# Inside the ftrace handler: what schedule_on_each_cpu(ftrace_sync) waits for.
IN_HANDLER = READER | {Pc.HANDLER_ENTRY, Pc.UNLOCKED}

# func_stack only ever grows at the head in patch order, so foo_1 is always at the
# bottom and foo_2, when present, sits right above it. list_del_rcu() leaves a removed
# entry's next pointer alone, so a reader holding foo_2 still steps down to foo_1.
BELOW: dict[KlpFunc, KlpFunc | None] = {
    KlpFunc.FOO_2: KlpFunc.FOO_1,
    KlpFunc.FOO_1: None,
}
NEW_FUNC = {KlpFunc.FOO_1: Code.FOO_1, KlpFunc.FOO_2: Code.FOO_2}
PATCH_OF = {KlpFunc.FOO_1: Patch.PATCH_1, KlpFunc.FOO_2: Patch.PATCH_2}


@dataclass(frozen=True, slots=True)
class Setup:
    """What a scenario fixes before the transition starts."""

    func: KlpFunc  # the transitioning patch's klp_func for foo
    goal: Universe  # the universe the transition converges to
    stack: tuple[KlpFunc, ...]  # func_stack before the transition, newest first


SETUPS = {
    Scenario.PATCH: Setup(KlpFunc.FOO_1, Universe.NEW, ()),
    Scenario.UNPATCH: Setup(KlpFunc.FOO_1, Universe.OLD, (KlpFunc.FOO_1,)),
    Scenario.STACKED: Setup(
        KlpFunc.FOO_2, Universe.OLD, (KlpFunc.FOO_2, KlpFunc.FOO_1)
    ),
}


class State(Record):
    """The livepatch core's variables for foo, RCU's, and each task's."""

    # the livepatch core
    admin: Admin
    klp_transition_patch: Patch | None
    klp_universe_goal: Universe
    func_stack: tuple[KlpFunc, ...]  # ops->func_stack of foo, newest first
    transition: tuple[bool, ...]  # func->transition, indexed by KlpFunc.value
    ftrace_ops_registered: bool  # klp's ftrace_ops for foo is registered
    # RCU
    gp_waiting: tuple[bool, ...]  # the readers the running synchronize_rcu() waits for
    func_life: tuple[Life, ...]  # ghost, indexed by KlpFunc.value
    # each task
    klp_universe: tuple[Universe, ...]
    pc: tuple[Pc, ...]
    func: tuple[KlpFunc | None, ...]  # the handler's `func` local
    target: tuple[Code | None, ...]  # the code the call was sent to


def admin_program(
    scenario: Scenario, *, clear_first: bool, sync: bool
) -> tuple[Admin, ...]:
    """The admin side's steps in order, for a scenario and the variant flags."""
    setup = SETUPS[scenario]
    program = [Admin.KLP_INIT_TRANSITION]
    if setup.goal is Universe.NEW:
        program.append(Admin.KLP_PATCH_OBJECTS)
    program += [Admin.KLP_START_TRANSITION, Admin.KLP_TRY_COMPLETE_TRANSITION]
    if setup.goal is Universe.OLD:
        if clear_first:
            program.append(Admin.CLEAR_TRANSITION_EARLY)
        if len(setup.stack) == 1:
            program += [Admin.UNREGISTER_FTRACE_FUNCTION, Admin.FTRACE_SYNC]
        program.append(Admin.KLP_UNPATCH_OBJECTS)
        if sync:
            program += [Admin.SYNCHRONIZE_RCU, Admin.RCU_GRACE_PERIOD]
    program += [Admin.KLP_COMPLETE_TRANSITION, Admin.DONE]
    return tuple(program)


def build(
    scenario: Scenario = Scenario.STACKED,
    tasks: int = 2,
    clear_first: bool = False,
    sync: bool = True,
    rcu_watching: bool = True,
    flag_all: bool = False,
) -> Model[State]:
    """The RFC 6/9 model for one scenario with `tasks` tasks.

    Parameters
    ----------
    scenario
        `patch`, `unpatch` or `stacked` (see the module docstring).
    tasks
        Number of tasks calling foo.
    clear_first
        Miroslav's proposal: clear `func->transition` before `klp_unpatch_objects()`.
    sync
        False drops the `synchronize_rcu()` after `klp_unpatch_objects()`.
    rcu_watching
        False puts task 0 where RCU is not watching (an idle task, or code before
        `user_exit()`): its `rcu_read_lock()` does not make `synchronize_rcu()` wait.
    flag_all
        `klp_init_transition()` sets `transition` on every func in `func_stack`, not only
        on the transitioning patch's, and `klp_complete_transition()` clears them all.
    """
    scenario = Scenario(scenario)
    if tasks < 1:
        raise ValueError(f"tasks must be at least 1, not {tasks}")
    setup = SETUPS[scenario]
    program = admin_program(scenario, clear_first=clear_first, sync=sync)
    after = dict(pairwise(program))
    start = Universe.OLD if setup.goal is Universe.NEW else Universe.NEW
    expected = {
        Universe.NEW: NEW_FUNC[setup.func],
        Universe.OLD: _code_of(BELOW[setup.func]),
    }
    # Whose rcu_read_lock() synchronize_rcu() honours (a constant of the run).
    watched = tuple(rcu_watching or t != 0 for t in range(tasks))
    every = range(tasks)
    nobody = (None,) * tasks

    init = State(
        admin=program[0],
        klp_transition_patch=None,
        klp_universe_goal=start,
        func_stack=setup.stack,
        transition=(False, False),
        ftrace_ops_registered=bool(setup.stack),
        gp_waiting=(False,) * tasks,
        func_life=tuple(
            Life.LIVE if f in setup.stack else Life.UNLINKED for f in KlpFunc
        ),
        klp_universe=(start,) * tasks,
        pc=(Pc.OUTSIDE,) * tasks,
        func=nobody,
        target=nobody,
    )
    model = Model(f"seed_rfc2015[{scenario.value}]", init=init, doc=__doc__)

    # -- a task calling foo --------------------------------------------------------

    @model.step(
        when=lambda s, t: s.pc[t] is Pc.OUTSIDE,
        over=every,
        reads={"pc[t]", "ftrace_ops_registered"},
        writes={"pc[t]", "target[t]"},
    )
    def call_foo(s: State, t: int) -> State:
        """Task t calls foo(); if klp's ftrace_ops is registered, ftrace calls the handler.

        kernel/trace/ftrace.c: ftrace_ops_list_func() -> klp_ftrace_handler()

        Without registered ops (before `klp_patch_objects()` in `patch`, after
        `unregister_ftrace_function()` in `unpatch`) foo's fentry call is a nop and the
        original foo runs. Entering the handler is a step of its own, so that a task can
        stall before `rcu_read_lock()`: Miroslav's first scenario.
        """
        if s.ftrace_ops_registered:
            return s.replace(pc=set_at(s.pc, t, Pc.HANDLER_ENTRY))
        return s.replace(
            pc=set_at(s.pc, t, Pc.RUNNING), target=set_at(s.target, t, Code.FOO)
        )

    @model.step(
        when=lambda s, t: s.pc[t] is Pc.HANDLER_ENTRY,
        over=every,
        reads={"pc[t]"},
        writes={"pc[t]"},
    )
    def rcu_read_lock(s: State, t: int) -> State:
        """The handler enters its RCU read-side critical section.

        kernel/livepatch/patch.c: klp_ftrace_handler(): rcu_read_lock()

        Being a reader is not a separate variable: a task is one from here to
        `rcu_read_unlock()`, and `synchronize_rcu()` reads the task's pc. Whether the
        lock is honoured is a constant of the run (`rcu_watching`): where RCU is not
        watching, the lock is taken but no grace period waits for it (842c08846420).
        """
        return s.replace(pc=set_at(s.pc, t, Pc.RCU_LOCKED))

    @model.step(
        when=lambda s, t: s.pc[t] is Pc.RCU_LOCKED,
        over=every,
        reads={"pc[t]", "func_stack"},
        writes={"pc[t]", "func[t]", "target[t]"},
    )
    def list_first_or_null_rcu(s: State, t: int) -> State:
        """The handler reads the top of foo's func_stack.

        kernel/livepatch/patch.c: klp_ftrace_handler(): list_first_or_null_rcu()

        An empty list is the handler's `WARN_ON_ONCE(!func)` path, which runs the
        original. The model keeps the path, but registration order (add before
        register, unregister before delete) should make it unreachable.
        """
        if not s.func_stack:
            return s.replace(
                pc=set_at(s.pc, t, Pc.PICKED), target=set_at(s.target, t, Code.FOO)
            )
        return s.replace(
            pc=set_at(s.pc, t, Pc.HAS_FUNC), func=set_at(s.func, t, s.func_stack[0])
        )

    def read_transition_guard(s: State, t: int) -> bool:
        return s.pc[t] is Pc.HAS_FUNC

    @model.step(
        when=read_transition_guard,
        over=every,
        reads={"pc[t]", "func[t]", "transition"},
        writes={"pc[t]"},
    )
    def read_func_transition(s: State, t: int) -> State:
        """The handler reads `func->transition` of the entry it found.

        kernel/livepatch/patch.c: klp_ftrace_handler(): `if (unlikely(func->transition))`

        A separate step from the list read: between the two, `klp_unpatch_objects()`,
        a grace period and `klp_complete_transition()` can all run, which is the window
        the seed thread argues about. The read barrier after it (smp_rmb) is not
        modelled: the model is sequentially consistent.
        """
        func = s.func[t]
        assert func is not None
        seen = s.transition[func.value]
        return s.replace(
            pc=set_at(s.pc, t, Pc.SAW_TRANSITION if seen else Pc.SAW_NO_TRANSITION)
        )

    @model.step(
        when=lambda s, t: s.pc[t] is Pc.SAW_TRANSITION,
        over=every,
        reads={"pc[t]", "klp_universe[t]"},
        writes={"pc[t]"},
    )
    def read_klp_universe(s: State, t: int) -> State:
        """The handler reads the current task's universe.

        kernel/livepatch/patch.c: klp_ftrace_handler(): `current->klp_universe == OLD`

        The universe cannot change while the task is in the handler (it switches only
        outside foo), so the read could be folded into the pick; it is kept apart to
        follow the code and so that a future variant may break that rule.
        """
        old = s.klp_universe[t] is Universe.OLD
        return s.replace(pc=set_at(s.pc, t, Pc.SAW_OLD if old else Pc.SAW_NEW))

    @model.step(
        when=lambda s, t: s.pc[t] in (Pc.SAW_NO_TRANSITION, Pc.SAW_OLD, Pc.SAW_NEW),
        over=every,
        reads={"pc[t]", "func[t]"},
        writes={"pc[t]", "func[t]", "target[t]"},
    )
    def klp_arch_set_pc(s: State, t: int) -> State:
        """The handler picks the code: the entry's new_func, or for an OLD task in
        transition the entry below it, or the original foo if there is none.

        kernel/livepatch/patch.c: klp_ftrace_handler(): `list_entry_rcu(func->stack_node.next)`,
        `klp_arch_set_pc(regs, func->new_func)`

        The next pointer is a constant here (see BELOW): entries are added only at the
        head and `list_del_rcu()` keeps a removed entry's next pointer. After the pick
        the handler holds no klp_func pointer any more, so `func` is cleared.
        """
        func = s.func[t]
        assert func is not None
        code = _code_of(BELOW[func]) if s.pc[t] is Pc.SAW_OLD else NEW_FUNC[func]
        return s.replace(
            pc=set_at(s.pc, t, Pc.PICKED),
            func=set_at(s.func, t, None),
            target=set_at(s.target, t, code),
        )

    @model.step(
        when=lambda s, t: s.pc[t] is Pc.PICKED,
        over=every,
        reads={"pc[t]"},
        writes={"pc[t]", "gp_waiting[t]"},
    )
    def rcu_read_unlock(s: State, t: int) -> State:
        """The handler leaves its RCU read-side critical section.

        kernel/livepatch/patch.c: klp_ftrace_handler(): rcu_read_unlock()

        A grace period that was waiting for this reader stops waiting for it; a later
        read-side section of the same task is not waited for by that grace period.
        """
        return s.replace(
            pc=set_at(s.pc, t, Pc.UNLOCKED),
            gp_waiting=set_at(s.gp_waiting, t, False),
        )

    @model.step(
        when=lambda s, t: s.pc[t] is Pc.UNLOCKED,
        over=every,
        reads={"pc[t]"},
        writes={"pc[t]"},
    )
    def ftrace_return(s: State, t: int) -> State:
        """The handler returns and ftrace resumes at the chosen code: the call runs.

        arch/x86/kernel/mcount_64.S: ftrace_regs_caller restores regs->ip

        `no_wrong_universe_call` is checked in the state this step reaches. The
        step is separate from `rcu_read_unlock()` because ftrace's own sync waits for
        the whole handler, not only for its read-side section.
        """
        return s.replace(pc=set_at(s.pc, t, Pc.RUNNING))

    @model.step(
        when=lambda s, t: s.pc[t] is Pc.RUNNING,
        over=every,
        reads={"pc[t]"},
        writes={"pc[t]", "target[t]"},
    )
    def foo_returns(s: State, t: int) -> State:
        """The call of foo (or of the version it was sent to) returns.

        (no kernel function: the patched function's own return)

        Calls are not nested: one patched function is enough for every race the seed
        thread discusses, and a task outside foo is at a safe point.
        """
        return s.replace(
            pc=set_at(s.pc, t, Pc.OUTSIDE), target=set_at(s.target, t, None)
        )

    @model.step(
        when=lambda s, t: (
            s.pc[t] is Pc.OUTSIDE and s.klp_universe[t] is not s.klp_universe_goal
        ),
        over=every,
        reads={"pc[t]", "klp_universe[t]", "klp_universe_goal"},
        writes={"klp_universe[t]"},
    )
    def klp_update_task_universe(s: State, t: int) -> State:
        """Task t switches to the goal universe at a safe point.

        kernel/livepatch/transition.c: klp_update_task_universe() (RFC 6/9; RECALLED),
        reached at kernel exit through the per-arch thread flag (RFC 9/9) or from
        klp_try_complete_transition() for a sleeping task whose stack has no patched
        function

        Both paths act only on a task outside foo and outside the handler: the handler
        runs with preemption disabled, so a task in it is running and is not
        stack-checked. The kernel's stack check would also let a task sleeping in foo
        switch when the code it runs is the goal universe's (say foo_1 while patch_2 is
        removed); with one function and no nesting such a task has that universe
        already, so forbidding the switch inside foo loses no behaviour. The thread flag
        is not modelled; under sequential consistency it only says "look at the goal",
        and the guard compares with the goal directly.

        Why the flag, the stack check and the load/store of the universe are one step
        (the granularity rule of models/livepatch.py: at most one access that another
        actor can interleave with): ``pc[t]`` and the task's stack are its own, and
        ``klp_universe_goal`` does not change while a switch is in progress. It is
        written only by ``klp_init_transition``, before any task differs from it; this
        model has no reverse; and the completion, which reads the universes, waits
        until every task, this one included, has switched. So the store of
        ``klp_universe[t]`` is the one access others see, and one step loses no
        interleaving. With a reverse, as in models/livepatch.py, the load of the goal
        and the store would have to be two steps (there a reverse between them is what
        S3 guards against).
        """
        return s.replace(klp_universe=set_at(s.klp_universe, t, s.klp_universe_goal))

    # -- the livepatch side ------------------------------------------------------

    flagged = {setup.func}

    def flag_set(stack: tuple[KlpFunc, ...]) -> set[KlpFunc]:
        return flagged | set(stack) if flag_all else flagged

    @model.step(
        when=lambda s: s.admin is Admin.KLP_INIT_TRANSITION,
        reads={"admin", "func_stack"} if flag_all else {"admin"},
        writes={"admin", "klp_transition_patch", "transition"},
    )
    def klp_init_transition(s: State) -> State:
        """Set `klp_transition_patch` and the transitioning patch's `func->transition`.

        kernel/livepatch/transition.c: klp_init_transition() (RFC 6/9)

        The RFC also sets every task's universe to the initial one here; between
        transitions every task is already in the last goal, so those writes change
        nothing and are left out. The flags are set in one step: foo is the only
        patched function. With `flag_all`, every func on the stack is flagged
        (Miroslav's reading of the code in the seed, which Josh corrected).
        """
        on = flag_set(s.func_stack)
        return s.replace(
            admin=after[s.admin],
            klp_transition_patch=PATCH_OF[setup.func],
            transition=tuple(f in on for f in KlpFunc),
        )

    if Admin.KLP_PATCH_OBJECTS in after:

        @model.step(
            when=lambda s: s.admin is Admin.KLP_PATCH_OBJECTS,
            reads={"admin", "func_stack"},
            writes={"admin", "func_stack", "ftrace_ops_registered", "func_life"},
        )
        def klp_patch_objects(s: State) -> State:
            """Add foo_1 at the head of func_stack, then register klp's ftrace_ops.

            kernel/livepatch/patch.c: klp_patch_object() -> klp_patch_func():
            `list_add_rcu()`, then `register_ftrace_function()` for the first entry

            One step: until the ops are registered no handler can look at the list,
            so the moment between the two writes is invisible.
            """
            return s.replace(
                admin=after[s.admin],
                func_stack=(setup.func, *s.func_stack),
                ftrace_ops_registered=True,
                func_life=set_at(s.func_life, setup.func.value, Life.LIVE),
            )

    @model.step(
        when=lambda s: s.admin is Admin.KLP_START_TRANSITION,
        reads={"admin"},
        writes={"admin", "klp_universe_goal"},
    )
    def klp_start_transition(s: State) -> State:
        """Set `klp_universe_goal` to the target universe; tasks may now switch.

        kernel/livepatch/transition.c: klp_start_transition() (RFC 6/9; RECALLED)
        """
        return s.replace(admin=after[s.admin], klp_universe_goal=setup.goal)

    @model.step(
        when=lambda s: (
            s.admin is Admin.KLP_TRY_COMPLETE_TRANSITION
            and all(u is s.klp_universe_goal for u in s.klp_universe)
        ),
        reads={"admin", "klp_universe", "klp_universe_goal"},
        writes={"admin"},
    )
    def klp_try_complete_transition(s: State) -> State:
        """Every task is in the goal universe: the transition can complete.

        kernel/livepatch/transition.c: klp_try_complete_transition() (RFC 6/9)

        The kernel walks the tasks one by one; a task never leaves the goal once in it
        (there is no reverse here), so checking them all at once gives the same
        answer. Failed attempts are retried later and change nothing, so only the
        successful one is a step.
        """
        return s.replace(admin=after[s.admin])

    def cleared(s: State) -> tuple[bool, ...]:
        off = set(KlpFunc) if flag_all else flagged
        return tuple(s.transition[f.value] and f not in off for f in KlpFunc)

    if Admin.CLEAR_TRANSITION_EARLY in after:

        @model.step(
            when=lambda s: s.admin is Admin.CLEAR_TRANSITION_EARLY,
            reads={"admin", "transition"},
            writes={"admin", "transition"},
        )
        def clear_transition_early(s: State) -> State:
            """Clear `func->transition` before `klp_unpatch_objects()`.

            Miroslav's proposal in the seed thread ("I think we need to clear
            func->transition before calling klp_unpatch_objects"); never merged.
            """
            return s.replace(admin=after[s.admin], transition=cleared(s))

    if Admin.UNREGISTER_FTRACE_FUNCTION in after:

        @model.step(
            when=lambda s: s.admin is Admin.UNREGISTER_FTRACE_FUNCTION,
            reads={"admin"},
            writes={"admin", "ftrace_ops_registered"},
        )
        def unregister_ftrace_function(s: State) -> State:
            """foo_1 is the last entry: unregister klp's ftrace_ops first.

            kernel/livepatch/patch.c: klp_unpatch_func() -> unregister_ftrace_function()

            From here on, calls of foo no longer enter the handler. The wait for the
            handlers already running is the next step.
            """
            return s.replace(admin=after[s.admin], ftrace_ops_registered=False)

        @model.step(
            when=lambda s: (
                s.admin is Admin.FTRACE_SYNC
                and not any(pc in IN_HANDLER for pc in s.pc)
            ),
            reads={"admin", "pc"},
            writes={"admin"},
        )
        def schedule_on_each_cpu(s: State) -> State:
            """ftrace's sync for dynamic ops returns: no handler is running.

            kernel/trace/ftrace.c: ftrace_shutdown(): schedule_on_each_cpu(ftrace_sync)

            It waits for handlers whether RCU watches them or not, which is why the
            `unpatch` scenario survives `rcu_watching=false`. Waiting until no task is
            in the handler equals waiting for those inside when the wait began,
            because none can enter once the ops are unregistered.
            """
            return s.replace(admin=after[s.admin])

    @model.step(
        when=lambda s: s.admin is Admin.KLP_UNPATCH_OBJECTS,
        reads={"admin", "func_stack", "func_life"},
        writes={"admin", "func_stack", "func_life"},
    )
    def klp_unpatch_objects(s: State) -> State:
        """Remove the transitioning patch's func from func_stack.

        kernel/livepatch/patch.c: klp_unpatch_objects() -> klp_unpatch_func():
        `list_del_rcu(&func->stack_node)`

        Readers that already hold the func keep a valid pointer to it (and its next
        pointer) until a grace period that begins after this step has ended.
        """
        return s.replace(
            admin=after[s.admin],
            func_stack=tuple(f for f in s.func_stack if f is not setup.func),
            func_life=set_at(s.func_life, setup.func.value, Life.REMOVED),
        )

    if Admin.SYNCHRONIZE_RCU in after:

        @model.step(
            when=lambda s: s.admin is Admin.SYNCHRONIZE_RCU,
            reads={"admin", "pc", "func_life"},
            writes={"admin", "gp_waiting", "func_life"},
        )
        def synchronize_rcu(s: State) -> State:
            """A grace period begins: it will wait for the readers inside right now.

            kernel/rcu/tree_plugin.h: synchronize_rcu(), called from
            klp_try_complete_transition() (RFC 6/9, quoted in the seed)

            The waited-for set is fixed here. A task before `rcu_read_lock()` (Miroslav's
            first scenario) is not in it, and neither is task 0 with `rcu_watching=false`.
            Funcs removed before this point will be free when it ends.
            """
            life = tuple(Life.RETIRING if x is Life.REMOVED else x for x in s.func_life)
            waiting = tuple(watched[t] and s.pc[t] in READER for t in range(len(s.pc)))
            return s.replace(admin=after[s.admin], gp_waiting=waiting, func_life=life)

        @model.step(
            when=lambda s: s.admin is Admin.RCU_GRACE_PERIOD and not any(s.gp_waiting),
            reads={"admin", "gp_waiting", "func_life"},
            writes={"admin", "func_life"},
        )
        def synchronize_rcu_returns(s: State) -> State:
            """Every reader the grace period waited for has unlocked: it ends.

            kernel/rcu/tree_plugin.h: synchronize_rcu() returns

            A removed klp_func is free memory from now on (ghost: `func_life`).
            """
            life = tuple(Life.FREED if x is Life.RETIRING else x for x in s.func_life)
            return s.replace(admin=after[s.admin], func_life=life)

    @model.step(
        when=lambda s: s.admin is Admin.KLP_COMPLETE_TRANSITION,
        reads={"admin", "transition"},
        writes={"admin", "transition", "klp_transition_patch"},
    )
    def klp_complete_transition(s: State) -> State:
        """Clear `func->transition` and `klp_transition_patch`.

        kernel/livepatch/transition.c: klp_complete_transition() (RFC 6/9)

        With `flag_all` it clears every flag it set. After this step nothing changes on
        the livepatch side; tasks keep calling foo.
        """
        return s.replace(
            admin=after[s.admin], transition=cleared(s), klp_transition_patch=None
        )

    # -- properties ----------------------------------------------------------------

    @model.invariant(reads={"pc", "target", "klp_universe"})
    def no_wrong_universe_call(s: State) -> bool:
        """Every call of foo runs the code of the caller's universe.

        NEW: the transitioning patch's function. OLD: the entry below it in func_stack,
        or the original foo if there is none (I1 of livepatch-protocol.md §4).
        """
        return all(
            code is expected[u]
            for pc, code, u in zip(s.pc, s.target, s.klp_universe, strict=True)
            if pc is Pc.RUNNING
        )

    @model.invariant(reads={"pc", "func", "func_life"})
    def no_removed_function_called(s: State) -> bool:
        """No handler uses a klp_func that was removed from func_stack, after a grace
        period that began after the removal has ended (I2, first half).

        Checked on the pointer the handler holds between list_first_or_null_rcu() and
        its pick: the next handler step dereferences it (`func->transition`,
        `func->stack_node.next`, `func->new_func`).
        """
        for pc, func in zip(s.pc, s.func, strict=True):
            if (
                pc in HOLDS_FUNC
                and func is not None
                and s.func_life[func.value] is Life.FREED
            ):
                return False
        return True

    @model.reachable(reads={"admin", "klp_transition_patch"})
    def transition_completes(s: State) -> bool:
        """The transition completes: klp_complete_transition() has run."""
        return s.admin is Admin.DONE and s.klp_transition_patch is None

    for phase in program:
        model.reachable(reads={"admin", "pc"})(_call_runs_during(phase))

    if scenario is Scenario.PATCH:  # nothing is unpatched: no coverage warning
        model.never_enabled_is_expected("klp_unpatch_objects")
    return model


def _code_of(func: KlpFunc | None) -> Code:
    """The code a klp_func sends calls to; None (the list head) means the original."""
    return Code.FOO if func is None else NEW_FUNC[func]


def _call_runs_during(phase: Admin) -> Callable[[State], bool]:
    """A reachable target: some call of foo runs while the admin side is at `phase`.

    One per phase of the admin program, so a complete search shows the model is not
    vacuous: tasks can call foo before, during and after every livepatch step.
    """

    def predicate(s: State) -> bool:
        return s.admin is phase and Pc.RUNNING in s.pc

    predicate.__name__ = f"foo_runs_at_{phase.name.lower()}"
    predicate.__doc__ = (
        f"A call of foo runs while the livepatch side is at {phase.value} "
        "(non-vacuity: tasks can call foo in every phase)."
    )
    return predicate
