"""Today's upstream livepatch per-task consistency model (v6.x), with its known races as variants.

The model follows ``kernel/livepatch/{core,patch,transition}.c`` of a 2025 tree (the
reference is ``shared/livepatch-protocol.md``, §1 for the protocol and §3 for the races).

Actors
------
- **The admin** holds ``klp_mutex`` for everything it does: enable, disable, reverse, force
  and the delayed transition work (``klp_transition_work_fn``). It runs one operation at a
  time; an operation is a program of micro-steps (``prog``), one per kernel statement that
  another actor can observe. Loops over tasks take one step per task. The admin runs on a
  CPU of its own that is not modelled (it is never the target of a stack check and takes no
  part in ``klp_synchronize_transition``).
- **Tasks** ``0 … tasks-1`` (plus a fork slot with ``fork=true``) and one **idle task per
  CPU**. A task runs only while it is some CPU's ``curr``. Running tasks call patched
  functions through the ftrace handler (H1, H3, H5, H6 are separate steps, the handler runs
  with preemption disabled), return, exit to user space (``klp_update_patch_state``), and
  may go through the scheduler hook (``__klp_sched_try_switch``). Idle tasks switch in the
  idle loop. ``schedule`` puts any runnable task on a CPU whose current task is outside a
  preemption-disabled region.

Ground truth: every task carries its call ``stack`` of frames ``(function, code)`` where
code is ``ORIG`` or the patch whose ``new_func`` runs (a nop entry runs ``ORIG``). The
invariants (I1–I8 of reference §4) compare that ground truth with what the protocol
decides; the two sticky ghost bits ``wrong_call`` and ``unsafe_switch`` record the moment a
call or a switch went wrong, since those are properties of a step, not of a state.

Scenarios (``scenario=``) fix the patches and the admin's script, so each variant explores
a focused space:

============== ============================================================================
enable         patch 0 is enabled
disable        patch 0 starts enabled and is disabled
enable_disable patch 0 is enabled, then disabled (both directions complete)
reverse        patch 0 is enabled and the admin may reverse the transition once
stacked        patches 0 and 1 are enabled (1 on top); patch 1 is disabled (the seed's case)
stack_enable   patch 0 is enabled; patch 1 is enabled on top of it
replace        patch 0 is enabled; patch 1 (atomic replace, nop on the functions it does
               not patch, all of them when ``funcs=1``) replaces it
immediate      patch 0 is "immediate" (v4.12–4.15, no per-task transition); then patch 1
               (normal) is enabled on top of it
force          patch 0 is enabled and the admin may write ``force`` once
force_disable  patch 0 starts enabled, is disabled, and the admin may write ``force`` once
============== ============================================================================

Variants (reference §3). Every prediction of the issue holds; the violated properties are
those of the full search, pinned in models/manifest.toml (I1 is the ground truth
``no_wrong_universe_call``; "per call" is ``handler_follows_patch_state``, the
reference's per-call form of I1; I3b is ``patch_state_follows_transition``):

============================== ============================ ==========================
variant                        predicted                    measured (violated)
============================== ============================ ==========================
#2c ``clear_first=true``        I1                           per call, I1, I2
#3  ``sync="rcu"``              I1 or I2                     per call, I1, I2, I3, I7
                                                             (stacked); I3 (enable);
                                                             I3, I3b, I4, per call, I1,
                                                             I2 (reverse); holds
                                                             (disable)
#4  ``fork_recopy=false``       I4/I5; fixed holds           I4, I5, I3b; fixed holds
#5  ``s2=false``                I3, not I1                   I3 only
#7  ``stack_buffer="shared"``   I7; per-CPU holds            I7, I1; per-CPU holds
#8  ``scenario=immediate``      I7                           I7, I1
#9  ``exiting=true``            I3 or I8                     I3, I8, per call, I1 (+ I2,
                                                             I7 with replace)
#9 + ``exit_wait=true``         (candidate fix)              I3 only
#10 ``idle_maps_target=true``   I1                           I1
force ``scenario=force``        I1/I7                        per call, I1, I7
default (every scenario)        holds                        holds
#6  ``reverse_order="4.12"``    (both orders, SC)            holds
``loop_order="any"``           the same as fixed order      the same (every variant)
============================== ============================ ==========================

- ``clear_first=true`` (#2c) clears ``func->transition`` before ``klp_unpatch_objects``.
- ``sync="rcu"`` (#3) makes ``klp_synchronize_transition`` a ``synchronize_rcu`` that does
  not wait for the idle tasks (RCU is not watching there); needs ``idle_calls=true``. The
  race needs a patch *below* the removed one (``scenario=stacked``): when the removed func
  is the last entry, ``unregister_ftrace_function`` waits for every handler on its own,
  which is why 842c08846420 is titled "Fix stacking of patches with respect to RCU".
  On the reverse side, an idle task's ``klp_update_patch_state`` that cleared TIF before
  the reverse is not waited for and writes its ``patch_state`` after the completion's
  reset to IDLE (I4; the next ``klp_init_transition`` would WARN).
- ``fork_recopy=false`` (#4): ``klp_copy_process`` copies only ``patch_state``; the child's
  TIF_PATCH_PENDING is the one ``dup_task_struct`` copied earlier (before 747f7a290117).
  The reference's interleaving uses a reverse; the shortest one does not: the parent is
  stack-checked and switched while it sleeps inside ``copy_process`` (what the fix's
  comment says: "The parent process may have gone through a KLP transition since the
  thread flag was copied"). The reverse interleaving is also a trace of this model.
- ``s2=false`` (#5) drops the sync before the ``patch_state = IDLE`` loop when patching.
- ``stack_buffer="shared"`` (#7): one stack-trace buffer for everyone (before e92606fa172f)
  with the lockless scheduler hook.
- ``scenario=immediate`` (#8). One immediate patch below a normal one is enough: a task
  in the original function is invisible to a check that looks for patch 0's func.
- ``exiting=true`` (#9): the last task may leave the tasklist and keep running ``do_exit``.
  Besides I3/I8 it breaks I1: a task unhashed while pending stays UNPATCHED forever and,
  once ``func->transition`` is cleared, runs the new code (it was never switched).
  ``exit_wait=true`` is the reference's candidate fix (completion waits until every
  unhashed task is dead): it removes I1, I2, I7 and I8, but not the IDLE WARN (I3) of a
  task that was unhashed before ``klp_init_transition`` and is never initialized.
- ``idle_maps_target=true`` (#10): new tasks start IDLE and the handler reads
  ``klp_target_state`` when it sees IDLE (the rejected 2025 proposal). It needs two
  functions (a call chain to mix). Petr's counterexample uses a reverse; the shortest one
  does not: a child that joins after the init loop enters the original f0 before
  ``klp_patch_object``, then calls f1 and is mapped to PATCHED. Under this design an IDLE
  task is in the target's universe, so I4 and I7 read IDLE as the target here.
- ``scenario=force``: ``klp_force_transition``.
- ``reverse_order="4.12"``: the v4.12–v6.3 order of ``klp_reverse_transition`` (flip the
  target first, then clear TIF and sync). Under sequential consistency both orders verify
  (reference #6, DERIVED): the task re-reads the target when it writes ``patch_state``.
- ``loop_order="any"``: the admin's loops (``klp_init_transition``,
  ``klp_start_transition``, ``klp_try_complete_transition``, ``klp_complete_transition``,
  ``klp_reverse_transition``, ``klp_force_transition``) visit the normal tasks in any
  order, then the idle tasks in any order; each loop keeps which tasks it ``visited``.
  Why: ``for_each_process_thread`` walks the tasklist, whose order depends on the history
  of forks and exits that the model does not have, so a fixed slot order is one tasklist
  order among many; and which CPU has which number is arbitrary, so the idle tasks'
  ``for_each_possible_cpu`` order is too. "Any" covers every order, and it is what
  symmetry needs (``symmetry=true``, ``rename``): a fixed order singles out task 0.
  Each loop picks its order afresh, which is more than the kernel does (the tasklist
  keeps its order from one loop to the next unless tasks fork or exit): a race found
  only under "any" would need checking against one fixed order; none was.
  ``tasklist_lock`` is held from the first normal task's iteration until the last one's;
  ``klp_force_transition``'s marking of ``forced`` is after its last iteration.
  Measured on every non-slow entry of models/manifest.toml: the same violated properties
  and the same shortest trace lengths as the fixed order (no race needs a particular
  tasklist order), with 18–70 % more states (enable: 20,344 -> 27,516 with 2 tasks,
  196,836 -> 342,576 with 3; measured before the granularity split, which doubled the
  counts: 40,134 -> 54,238 with 2 tasks).

Sizes. Defaults: 2 tasks, 2 CPUs (so 2 idle tasks), 1 function, call depth 1. Every race
above needs one victim task and at most one bystander: the victim is in an old function,
in its handler, or in fork; the bystander is the one the admin checks (#7's clean trace)
or the fork child (#4). Two CPUs let two tasks be inside preemption-off regions at once
(two handlers across a sync, two scheduler hooks with their per-CPU buffers). A single
function suffices for every per-call race; only a mixed call chain (#10, and the
``chains`` entry) needs two nested functions. Variants with fork or idle-task calls use
one CPU to stay under ~100k states; their races involve one running task and the admin.

Footprints are declared per task and per CPU wherever the kernel touches only that task
(the handler, switch points, the admin's per-task loop iterations, ``schedule``) and are
checked over every reachable state by tests/test_livepatch_model.py (and pass
``klpcheck run --audit``). Even so, klpcheck's stubborn-set reduction cuts nothing here
(docs/por.md, "Why models/livepatch.py is not reduced", has the figures; they were
measured before the granularity split, and the split model is not reduced either:
``scenario=enable`` keeps all of its 40,134 states). With the
properties, 70 of the 82 step instances (2 tasks) write a part an invariant reads: the
admin's steps write ``prog``, and every handler, switch and return step writes
``hpc[t]`` or ``stack[t]``; the other 12 are ``schedule``. A stubborn set that holds one
of the 70 holds them all, and no smaller stubborn set avoids them, so no state is cut
(2 and 3 tasks). With every property removed it keeps 19,752 of 20,344 states (2 tasks)
and 194,471 of 196,836 (3 tasks). Even the exact dependency of the reachable graph (two
instances dependent only where both are enabled and do not commute), a bound for
co-enabledness, split guards or better enabling sets, keeps 15,280 and 150,800 without
properties, and every state with them. That dependency is real: ``klp_try_switch_task``
reads the checked task's ``on_cpu``, ``stack`` and ``hpc``, and ``schedule`` and the
handler change its answer. Symmetry between the interchangeable tasks and CPUs fits this
model better: with 3 tasks the 196,836 states fall into 21,542 classes up to renaming
tasks and CPUs (an estimate: the admin's fixed loop order over tasks breaks exact
symmetry). With ``loop_order="any"`` the symmetry is exact (``rename``, checked by
tests/test_livepatch_symmetry.py): the 54,238 states of 2 tasks fall into 14,016 orbits,
and the 702,660 of 3 tasks into 63,639 (27,516 into 7,207 and 342,576 into 31,542
before the granularity split).

Granularity
-----------
A step may fold several kernel statements only if no other actor can observe or change
what they touch in between: a lock is held that every such actor takes, or preemption is
off and no other CPU reads or writes it, or it is one atomic instruction. This is
Lipton's reduction (R. J. Lipton, "Reduction: a method of proving properties of parallel
programs", CACM 18(12), 1975): a step is any number of accesses nobody else can see,
plus at most one access to state another actor shares (a read it may write, or a write
it may read); taking a lock or disabling preemption may join the step after it, and
dropping a lock or re-enabling preemption the step before it. Every step's docstring
that folds more says why. In particular:

- ``klp_update_patch_state``: the ``test_and_clear`` of TIF, the load of
  ``klp_target_state`` and the store of ``patch_state`` are three steps (a reverse or a
  completion may run between any two; S3 and S2 are what stop them);
- the scheduler hook: the save of the trace, the scan, the clearing of TIF, the load of
  the target and the store are five steps (``klp_check_and_switch_task`` re-reads the
  target for its store);
- the handler: each read (H1, H3, H5, H6) is a step, and the function entry is a step
  of its own after the decision (``Hpc.DECIDED``): in between the task is inside the
  handler, where the protocol must never switch it (I7);
- the admin's loops are one step per task; each iteration is done under klp_mutex and
  (for the tasklist part) ``tasklist_lock``, and touches one task; see the steps.

Protections
-----------
Each mechanism the protocol relies on has a switch that removes it (a mutant, named after
the kernel code); models/manifest.toml pins what each removal breaks (``protection =``)
or, where it breaks nothing, why the kernel does not need it there (``explained =``);
``klpcheck check`` prints the resulting mutation score.

=========================== ===============================================================
switch                      what it removes
=========================== ===============================================================
``s1=false``                klp_complete_transition's sync between ``klp_unpatch_objects``
                            and clearing ``func->transition`` (unpatching)
``s2=false``                its sync between clearing ``func->transition`` and the IDLE
                            loop (patching)
``s3=false``                klp_reverse_transition's sync between clearing TIF and the flip
``clear_first=true``        S1's order: clear ``func->transition`` before the unpatch
``sync="rcu"``              schedule_on_each_cpu: synchronize_rcu, blind to idle CPUs
``task_curr=false``         ``klp_check_and_switch_task``'s ``task_curr`` -EBUSY: running
                            tasks are checked and switched remotely
``check_below=false``       ``klp_check_stack_func``'s ``list_next_entry``: the check looks
                            for the original only
``reverse_clear_tif=false`` klp_reverse_transition's clearing of TIF_PATCH_PENDING
``fork_recopy=false``       klp_copy_process's re-copy of TIF (747f7a290117)
``stack_buffer="shared"``   the per-CPU stack-trace buffer (e92606fa172f)
``ups_preempt_off=false``   ``preempt_disable_notrace`` in klp_update_patch_state: the sync
                            does not wait for it and the task may be preempted inside
``hook_preempt_off=false``  preemption off around __klp_sched_try_switch (the 6.4-6.15
                            cond_resched() version disabled it itself)
``tasklist_lock=false``     the lock that makes the admin's tasklist loops atomic against
                            klp_copy_process (and the tasklist insertion) and exit
``init_idle=false``         klp_init_transition's loop over the idle tasks
``mark_forced=false``       klp_force_transition marking the patch ``forced`` (its module is
                            then never put)
``unregister_sync=false``   ``unregister_ftrace_function``'s wait for every handler in flight
``b1=false`` … ``b4=false``  with ``memory="weak"``: the ``smp_wmb`` B1–B4 (reference §1.10)
``h2_rmb``, ``h4_rmb``,     with ``memory="weak"``: the handler's two ``smp_rmb`` and the
``hook_rmb=false``          scheduler hook's
``start_order=false``       with ``memory="weak"``: ``pr_notice``'s order of the publish
                            before the TIF stores ("Weak memory")
=========================== ===============================================================

``reverses=N`` lets the admin reverse N times (some races need a second flip).

Abstractions, and why:

- The admin's loops are one step per task, and the tasklist part of a loop excludes
  ``klp_copy_process`` and ``__unhash_process`` (``tasklist_lock``), nothing else.
- ``klp_patch_object``/``klp_unpatch_objects`` and the ``func->transition`` writes are one
  step per patch (all functions at once): see the steps' docstrings for why no reader can
  tell the difference.
- The stack check of another task (``task_call_func``) is one step: the task cannot run,
  and the admin holds klp_mutex, which every writer of the target and func_stack holds.
- The scheduler hook's scan reads ``klp_target_state`` once for all funcs; the kernel
  reads it per func (``klp_check_stack_func``). With S3 the target cannot change while a
  hook runs, so that is exact; without S3 a scan mixing two targets could only hide runs
  of an already violated mutant (reference #6: under sequential consistency the mixed
  check ends in a no-op store).
- From the handler's H9 (preemption on again) to the first instruction of the chosen
  code, the task could be preempted in the ftrace trampoline; the model keeps it inside
  the handler's region until it enters (``klp_ftrace_handler_return``). A stack check of
  a task preempted there would have to find the trampoline's return address reliable
  and in neither version; that case is not modelled.
- A sleeping task's stack is its frames of patched functions only; unpatched frames never
  matter to ``klp_check_stack_func``.
- ``func->transition`` is one flag per patch: all of a patch's funcs are set and cleared
  together.
- The delayed work has no timer and the transition never gives up: only safety is checked.
- The ghost bits ``wrong_call``/``unsafe_switch`` and the ``freed`` flag are ground truth,
  not kernel state.

Liveness (``live=true``): L1 of the reference, "a started transition completes", is the
property ``transition_completes``: ``klp_transition_patch != NULL`` leads to
``klp_transition_patch == NULL`` (the completion resets every task only after I4 found it
in the target state). It holds only under fairness, each assumption per step instance:

- The admin's micro-steps and ``klp_transition_work_fn``: weak. The admin holds
  ``klp_mutex`` on a CPU of its own and finishes what it started, and the delayed work is
  queued again a second after each failed try for as long as the transition is pending.
  Enabling, reversing and forcing are the admin's choices: no fairness.
- Steps inside a preemption-disabled region (the handler's H3–H9, the write of
  ``klp_update_patch_state``, the hook's scan): weak. Nothing can take the CPU away.
- ``function_return``, ``klp_update_patch_state`` and the scheduler hook: strong. A task
  that runs again and again returns from its patched functions, passes its switch point
  (exit to user space, the top of the idle loop) and ``cond_resched()`` again and again,
  though not necessarily while the step is enabled in every state in between. For idle
  tasks this is ``wake_up_if_idle()`` (5de62ea84abd): every failed try kicks the idle
  CPUs, so an idle task that is current reaches the top of ``do_idle()``.
- Calls, ``schedule``, fork and exit: none. A task may call a patched function or not,
  and the model makes no claim that the scheduler ever runs a given task.

``kthread=true`` makes task 0 a CPU-bound kthread pinned to CPU 0 (once there it never
leaves, never returns to user space and calls no patched function; ``kthread_loop`` is
its work), the field case of #12. With one task and two CPUs, CPU 1 has nothing to run,
which is #11's field case (s390 LPARs with many idle CPUs). Pinned entries (``live*``):

- default: holds (enable, and enable with a reverse).
- ``wake_idle=false`` (#11, before 5de62ea84abd): an idle task that is current never
  passes its switch point (NO_HZ: the idle loop sleeps in cpuidle until woken), so idle
  task 1 is never switched: running when checked, never kicked. L1 fails, and patching
  never completes. The switch also forbids the pass after an idle task is scheduled back
  in, which the kernel does make; that does not matter here, where CPU 1 never runs
  another task (an idle task that is not current is switched by the admin's check).
- ``sched_hook=false`` (#12, before e3ff7c609f39): the kthread is running at every try and
  has no switch point of its own. L1 fails.
- ``tasks=2``: task 1 can sleep inside a patched function and, with no fairness on
  ``schedule``, never run again; its stack check fails forever. L1 fails, as expected:
  reverse or force is the way out (reference §4, L1).

L2 (no task left with TIF cleared and a stale state) is not a property of its own here:
it is a statement about states, and a task whose TIF is clear while its state is stale
when the completion runs breaks ``completion_finds_all_switched`` (I4). Fake signals (``klp_send_signals`` every 15th try) are
not modelled: they only help tasks that sleep interruptibly, and no pinned violation
depends on them; CPU hotplug, callbacks, ``klp_cancel_transition`` and the sysfs
``signal`` file (#13) are left out.

Weak memory
-----------
By default every step is sequentially consistent, so dropping an ``smp_wmb``/``smp_rmb``
changes nothing. ``memory="weak"`` (scenarios enable, disable, stack_enable, reverse; no
fork, exit, idle calls, symmetry or liveness) puts the locations of the barrier pairs
(reference §1.10) in the store-buffer memory of ``klpcheck.model.memory``:
``klp_target_state``, ``func->transition`` (one per patch), ``func_stack`` (one per
function), and each task's ``patch_state`` and TIF_PATCH_PENDING. The State fields of
those keep the value in *memory*; ``mem`` holds memory and each CPU's view, ``sb`` the
store buffers, and the steps ``drain`` and ``refresh`` move stores to memory and views to
memory. Each primitive has its kernel ordering:

- the admin's stores in ``klp_init_transition``, ``klp_patch_object``,
  ``klp_start_transition`` and ``klp_reverse_transition`` go through its store buffer;
  B1 (before the ``func->transition`` stores), B2/B3 (after them, enabling/disabling) and
  B4 (after the flip) are ``smp_wmb``; ``list_add_rcu`` is a release store
  (``publish="plain"``: a plain one); the first func of a function is published by
  ``register_ftrace_function``, which waits for an empty buffer and refreshes every view
  (so does ``unregister_ftrace_function``); ``klp_start_transition``'s ``pr_notice``
  orders the publish before the TIF stores (``start_order=false`` removes that);
- every other admin step waits for an empty buffer and writes memory directly: those
  steps run under ``task_call_func``'s locks or after a sync, and the admin's other
  operations start after one; ``klp_synchronize_transition`` queues a work on every CPU
  (``sync_work``), which runs there only outside livepatch regions and refreshes the CPU's
  views, and the sync returns once it ran everywhere;
- the handler's ``func_stack`` read (H1) is a load through the CPU's view, H2's
  ``smp_rmb`` follows it, the ``func->transition`` read is an address-dependent load
  (``list_first_or_null_rcu``), H4's ``smp_rmb`` follows it, and the ``patch_state``
  read (H5) is a load; ``klp_update_patch_state``'s ``test_and_clear`` is a fully
  ordered RMW; the scheduler hook reads TIF, then its ``smp_rmb``, then
  ``patch_state`` and ``klp_target_state``; ``schedule`` is a full barrier.

Known strengthenings (fewer behaviours than LKMM, so "holds" is "holds on this machine"):
tasks' stores (TIF clears, ``patch_state`` stores) reach memory at once; the admin reads
memory or its own buffered stores, never a stale view; the hook's TIF read, ``smp_rmb``
and its ``patch_state == klp_target_state`` test are one step; and the memory model itself
has no load buffering and is multi-copy atomic (see ``klpcheck.model.memory``).

The bookkeeping invariants that read protocol variables (``BOOKKEEPING``: I3b, I4, I5, I6,
``init_finds_idle`` and I7's H6 clause) read memory and are checked in the states where
the admin's buffer is empty, where memory holds what its program wrote; a sticky ghost
(I7's ``unsafe_switch``) is still caught, in the next such state (drains are always
enabled). The per-call I1 (``handler_follows_patch_state``) compares a call with the
``patch_state`` the task's CPU sees. The ground truth (I1, I2, I3's WARN, I8) is
unchanged. Pinned (models/manifest.toml, ``weak_*``; one task, one CPU, one function):

===================================== ===============================================
switch                                verdict (violated, shortest steps)
===================================== ===============================================
every barrier (each scenario)         holds
``b1=false`` (disable)                I3 (10): §3 #14 predicts I3
``h4_rmb=false`` (disable)            I3 (13)
``hook_rmb=false`` (disable)          I3b (21), I3 (24), I7 (25), I1, I2 (36)
``b3=false`` (disable)                per call (17), I1, I2 (32): §3 #14 predicts I1
``b2=false`` (stack_enable)           holds: ``list_add_rcu`` is a release
``b2=false publish=plain``            per call (14); I1 holds (one function, depth 1)
``h2_rmb=false`` (stack_enable)       holds: an address dependency (also when plain)
``b4=false`` (reverse)                holds: the stale target is the task's own state
``start_order=false`` (stack_enable)  per call (19), I1 (33): see below
``reverse_order="4.12"`` (#6)         holds (1 task 1 CPU; 2 tasks 1 CPU: 121,094)
===================================== ===============================================

B1 is needed where no sync stands between its stores and the handler: when enabling, the
first func is published by ``register_ftrace_function`` (a sync), so B1's handler side
shows when disabling (the funcs are already on ``func_stack``). Without B4 a task may
clear TIF while it is not at the new target (L2), which only costs liveness.
``start_order=false`` is a finding: no livepatch barrier orders ``list_add_rcu`` of a
stacked func before ``klp_start_transition``'s TIF stores (a release orders what comes
before it only); ``pr_notice``'s lock release and acquire on the same CPU do (LKMM's
unlock-lock ordering), and x86 is TSO; without them a task switched to PATCHED can still
run the previous patch's func after the transition completes. Larger sizes are costly:
``scenario=disable`` with two CPUs and every barrier found no violation in the 514,775
states up to depth 22 that a 300-second search reached (incomplete, not a "holds").
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from klpcheck import Model, Record, set_at
from klpcheck.model.memory import Buffer, Cell, WeakMemory

ORIG = -1
"""Code version of the original function (``func->old_func``)."""

NULL = -1
"""``klp_transition_patch == NULL``; also "no CPU" in ``on_cpu``."""

T = TypeVar("T")

FORCE_SCENARIOS = ("force", "force_disable")
"""Scenarios in which the admin may write ``force`` once."""

Frame = tuple[int, int]
"""One stack frame: (function index, code version: ORIG or a patch index)."""


class KlpState(Enum):
    """``KLP_TRANSITION_IDLE/_UNPATCHED/_PATCHED`` (-1/0/1); ``!state`` flips 0 and 1."""

    def __repr__(self) -> str:
        return self.name

    # Enum's own __hash__ is Python code (the hash of the name), run for every enum in
    # every state the search looks up: about 15 per state here. A plain Enum compares
    # by identity, so the identity hash means the same and runs in C. Every enum below
    # does the same.
    __hash__ = object.__hash__

    IDLE = -1
    UNPATCHED = 0
    PATCHED = 1


class Life(Enum):
    """Where a task is in its life, as the tasklist sees it."""

    def __repr__(self) -> str:
        return self.name

    __hash__ = object.__hash__

    UNBORN = "unborn"  # fork slot not used yet
    FORKING = "forking"  # dup_task_struct done, not on the tasklist yet
    COPIED = (
        "copied"  # klp_copy_process done, not on the tasklist yet (tasklist_lock=false)
    )
    LIVE = "live"  # on the tasklist
    EXITING = "exiting"  # __unhash_process done, still running do_exit()
    DEAD = "dead"  # do_task_dead(): never runs again


IN_COPY_PROCESS = frozenset({Life.FORKING, Life.COPIED})
"""The fork child's lives while its parent is still inside ``copy_process``."""


class Hpc(Enum):
    """Where a task is inside a preemption-disabled livepatch region.

    The ``H*`` values name the handler read the task does next.
    """

    def __repr__(self) -> str:
        return self.name

    __hash__ = object.__hash__

    NONE = "none"
    H3 = "read func->transition"
    H5 = "read current->patch_state"
    H6 = "read the next func_stack entry"
    WARNED = "WARN: saw KLP_TRANSITION_IDLE"
    DECIDED = "decided h_code: H7-H9, then enter it"
    UPS = "klp_update_patch_state: TIF cleared, read klp_target_state next"
    UPS_LOADED = "klp_update_patch_state: target read, store patch_state next"
    HOOK = "__klp_sched_try_switch: trace saved"
    HOOK_CLEAN = "__klp_sched_try_switch: trace clean, clear TIF next"
    HOOK_TIF = "__klp_sched_try_switch: TIF cleared, read klp_target_state next"
    HOOK_LOADED = "__klp_sched_try_switch: target read, store patch_state next"


HANDLER = frozenset({Hpc.H3, Hpc.H5, Hpc.H6, Hpc.WARNED, Hpc.DECIDED})
"""The ftrace handler's positions: H0's trylock disabled preemption until H9."""

UPDATE = frozenset({Hpc.UPS, Hpc.UPS_LOADED})
"""``klp_update_patch_state``'s positions (``preempt_disable_notrace`` upstream)."""

HOOK = frozenset({Hpc.HOOK, Hpc.HOOK_CLEAN, Hpc.HOOK_TIF, Hpc.HOOK_LOADED})
"""``__klp_sched_try_switch``'s positions (called from ``__schedule``, preemption off)."""

AFTER_DECISION = frozenset({Hpc.H6, Hpc.WARNED, Hpc.DECIDED})
"""Handler positions after the H5 (or H3) read that fixed the universe of the call."""


class Op(Enum):
    """The admin's micro-steps (kernel statement groups done under klp_mutex)."""

    def __repr__(self) -> str:
        return self.name

    __hash__ = object.__hash__

    INIT = "klp_init_transition: set klp_transition_patch, klp_target_state"
    INIT_TASK = "klp_init_transition: task->patch_state = initial"
    INIT_FUNCS = "klp_init_transition: func->transition = true"
    PATCH = "klp_patch_object: list_add_rcu to func_stack"
    START_TASK = "klp_start_transition: set TIF_PATCH_PENDING"
    START_DONE = "klp_start_transition: enable the sched hook; patch->enabled"
    TRY_TASK = "klp_try_complete_transition: klp_try_switch_task"
    TRY_DONE = "klp_try_complete_transition: complete or retry later"
    REPLACE = "klp_unpatch_replaced_patches + klp_discard_nops"
    UNPATCH = "klp_unpatch_objects: list_del_rcu from func_stack"
    SYNC = "klp_synchronize_transition: schedule_on_each_cpu begins"
    SYNC_WAIT = "klp_synchronize_transition: wait for every CPU"
    CLEAR = "klp_complete_transition: func->transition = false"
    RESET_TASK = "klp_complete_transition: task->patch_state = IDLE"
    COMPLETE_DONE = "klp_complete_transition: target = IDLE, transition_patch = NULL"
    REVERSE_CLEAR_TASK = "klp_reverse_transition: clear TIF_PATCH_PENDING"
    REVERSE_FLIP = "klp_reverse_transition: flip patch->enabled and klp_target_state"
    FORCE_TASK = "klp_force_transition: klp_update_patch_state(task)"
    IMMEDIATE = "immediate patch: klp_patch_object, no per-task transition"


TASK_LOOPS = frozenset(
    {
        Op.INIT_TASK,
        Op.START_TASK,
        Op.TRY_TASK,
        Op.RESET_TASK,
        Op.REVERSE_CLEAR_TASK,
        Op.FORCE_TASK,
    }
)

AdminOp = tuple[Op, int]
"""A micro-step and its argument (a patch index where one is needed, else 0)."""


class Program(tuple[AdminOp, ...]):
    """The admin's remaining micro-steps, next first; shown on one line in traces.

    Only the remaining steps are kept (no program counter), so that two operations that
    end alike (the first try of an enable and a later retry) reach the same states.
    """

    __slots__ = ()
    _fields = ()  # klpcheck's trace renderer shows a value with _fields as one cell

    def __repr__(self) -> str:
        return "[" + " ".join(op.name for op, _ in self) + "]"


IDLE_ADMIN = Program()


class State(Record):
    """One state of the system. Field names follow the kernel's."""

    # -- the admin (klp_mutex holder) -------------------------------------------------
    prog: Program  # remaining micro-steps of the admin's current operation
    cursor: int  # loop cursor over the task order (normal tasks, then idle tasks)
    visited: tuple[bool, ...]  # per task: the loop (``loop_order="any"``) visited it
    complete: bool  # klp_try_complete_transition's local `complete`
    script: int  # next operation of the scenario's script
    reverses: int  # reverses the admin may still do
    forces: int  # force writes the admin may still do
    # -- livepatch globals ------------------------------------------------------------
    transition_patch: int  # klp_transition_patch (NULL = -1)
    target: KlpState  # klp_target_state
    enabled: tuple[bool, ...]  # patch->enabled
    forced: tuple[bool, ...]  # patch->forced: its module is never put
    freed: tuple[bool, ...]  # the patch's module is gone (klp_free_patch_async + rmmod)
    nops_freed: tuple[
        bool, ...
    ]  # the patch's nop klp_funcs are kfree'd (klp_discard_nops)
    transition: tuple[bool, ...]  # func->transition of every func of the patch
    func_stack: tuple[
        tuple[int, ...], ...
    ]  # ops->func_stack per function, newest first
    sched_key: bool  # klp_sched_try_switch_key
    sync_wait: tuple[bool, ...]  # per task: the running sync still waits for its CPU
    stack_buf: tuple[
        tuple[Frame, ...] | None, ...
    ]  # klp_stack_entries per CPU (or one)
    curr: tuple[int, ...]  # per CPU: the task running there
    # -- per task ---------------------------------------------------------------------
    life: tuple[Life, ...]
    on_cpu: tuple[int, ...]  # CPU the task runs on, NULL when it sleeps
    patch_state: tuple[KlpState, ...]  # task->patch_state
    patch_pending: tuple[bool, ...]  # TIF_PATCH_PENDING
    stack: tuple[
        tuple[Frame, ...], ...
    ]  # ground truth: the frames of patched functions
    hpc: tuple[Hpc, ...]  # position inside a preemption-disabled livepatch region
    h_func: tuple[int, ...]  # the function whose handler runs (NULL when none)
    h_entry: tuple[int, ...]  # the func_stack entry the handler holds (NULL when none)
    h_code: tuple[int, ...]  # the code the handler decided on (at DECIDED; else ORIG)
    loaded: tuple[KlpState, ...]  # klp_target_state as read, not stored yet (else IDLE)
    wrong_call: tuple[bool, ...]  # ghost: a call resolved against the caller's universe
    unsafe_switch: tuple[bool, ...]  # ghost: patch_state changed under a live frame
    # -- weak memory (memory="weak" only; empty under sequential consistency) ----------
    mem: tuple[Cell, ...] = ()  # the weak locations: memory and each CPU's view
    sb: tuple[Buffer, ...] = ()  # per CPU (the admin's is the last): its store buffer
    work: tuple[
        bool, ...
    ] = ()  # per CPU: the running sync's work has not run there yet


@dataclass(frozen=True)
class Config:
    """The static part of a scenario: patches, their functions, and the admin's script."""

    ntasks: int  # normal task slots (including the fork slot)
    ncpus: int
    nfuncs: int
    funcs: tuple[frozenset[int], ...]  # per patch: the functions it has a klp_func for
    nops: tuple[frozenset[int], ...]  # per patch: which of those are nops
    replace: tuple[bool, ...]  # per patch: atomic replace
    script: tuple[tuple[str, int], ...]  # ("enable" | "disable" | "immediate", patch)
    initially_enabled: tuple[int, ...]  # patches enabled before the run, oldest first

    @property
    def all_tasks(self) -> range:
        return range(self.ntasks + self.ncpus)

    def idle(self, cpu: int) -> int:
        return self.ntasks + cpu

    def is_idle(self, t: int) -> bool:
        return t >= self.ntasks

    def code(self, p: int, f: int) -> int:
        """What runs when the handler picks patch p's func for f: a nop runs the original."""
        return ORIG if f in self.nops[p] else p


def _config(scenario: str, ntasks: int, ncpus: int, nfuncs: int) -> Config:
    every = frozenset(range(nfuncs))
    none: frozenset[int] = frozenset()
    scripts: dict[str, tuple[tuple[tuple[str, int], ...], tuple[int, ...]]] = {
        "enable": ((("enable", 0),), ()),
        "disable": ((("disable", 0),), (0,)),
        "enable_disable": ((("enable", 0), ("disable", 0)), ()),
        "reverse": ((("enable", 0),), ()),
        "force": ((("enable", 0),), ()),
        "force_disable": ((("disable", 0),), (0,)),
        "stacked": ((("disable", 1),), (0, 1)),
        "stack_enable": ((("enable", 1),), (0,)),
        "immediate": ((("immediate", 0), ("enable", 1)), ()),
        "replace": ((("enable", 1),), (0,)),
    }
    if scenario not in scripts:
        raise ValueError(f"scenario is one of {', '.join(scripts)}, not {scenario!r}")
    script, initial = scripts[scenario]
    npatches = 1 + max(p for _, p in script)
    funcs = (every,) * npatches
    nops = (none,) * npatches
    replace = (False,) * npatches
    if scenario == "replace":
        # Patch 1 has a real func for function 0 and nops for the rest; with one function
        # it is all nops ("revert everything" as a cumulative patch).
        real = frozenset({0}) if nfuncs > 1 else none
        nops = (none, every - real)
        replace = (False, True)
    return Config(ntasks, ncpus, nfuncs, funcs, nops, replace, script, initial)


# ----------------------------------------------------------------------------------------
# Ground truth helpers: which code a universe selects.


def prev_code(c: Config, s: State, p: int, f: int) -> int:
    """The code below patch p's func for f in ``func_stack[f]``: the previous version.

    This is what an UNPATCHED task runs (handler H6) and what the PATCHED-direction stack
    check looks for (``list_next_entry``). When p's func is not on the stack (not yet
    added, or already removed), the entries below it are the ones older than p.
    """
    for q in s.func_stack[f]:
        if q < p:
            return c.code(q, f)
    return ORIG


def top_code(c: Config, s: State, f: int) -> int:
    """What the handler gives a task that ignores the transition: the top entry."""
    st = s.func_stack[f]
    return c.code(st[0], f) if st else ORIG


def chosen_code(c: Config, s: State, state: KlpState, f: int) -> int | None:
    """The code a task in ``state`` must run for f while the transition patch is set.

    None when the transition patch does not touch f or is not set: then every task runs
    the top entry and there is no per-task universe to check against.
    """
    p = s.transition_patch
    if p == NULL or f not in c.funcs[p]:
        return None
    if state is KlpState.PATCHED:
        return c.code(p, f)
    if state is KlpState.UNPATCHED:
        return prev_code(c, s, p, f)
    return None


def call_is_right(c: Config, s: State, t: int, f: int, code: int) -> bool:
    """I1, per call: the code entered is the one the caller's patch_state selects.

    A task in IDLE has no universe of its own (it runs whatever is on top); for it only
    ``handler_never_sees_idle`` and the mixed-chain half of ``no_wrong_universe_call``
    apply. Without a transition patch for f, the right code is the top entry.
    """
    if s.patch_state[t] is KlpState.IDLE:
        return True
    want = chosen_code(c, s, s.patch_state[t], f)
    return code == (want if want is not None else top_code(c, s, f))


def switch_is_safe(c: Config, s: State, t: int, new: KlpState) -> bool:
    """I7: every frame of the transition patch's functions is code that ``new`` selects."""
    if s.hpc[t] in AFTER_DECISION:
        return False  # between the decision and the function entry (Petr's rule, §1.10)
    for f, code in s.stack[t]:
        want = chosen_code(c, s, new, f)
        if want is not None and code != want:
            return False
    return True


def trace_is_clean(
    c: Config, s: State, trace: tuple[Frame, ...], check_below: bool = True
) -> bool:
    """``klp_check_stack``: no to-be-(un)patched function in the saved trace.

    ``klp_check_stack_func`` looks for the patch's own code when unpatching, and when
    patching for the original (singular func_stack) or the entry right below (one level
    down, ``list_next_entry``). A nop's ``new_func`` is ``old_func``. Without
    ``check_below`` (a mutant) it always looks for the original when patching.
    """
    p = s.transition_patch
    if p == NULL:
        return False
    for f in c.funcs[p]:
        if s.target is KlpState.UNPATCHED:
            bad = c.code(p, f)
        elif s.func_stack[f] == (p,) or not check_below:
            bad = ORIG
        else:
            bad = prev_code(c, s, p, f)
        if (f, bad) in trace:
            return False
    return True


# ----------------------------------------------------------------------------------------


def build(
    scenario: str = "enable",
    tasks: int = 2,
    cpus: int = 2,
    funcs: int = 1,
    fork: bool = False,
    exiting: bool = False,
    idle_calls: bool = False,
    sched_hook: bool = True,
    depth: int = 1,
    clear_first: bool = False,
    sync: str = "sched",
    fork_recopy: bool = True,
    s2: bool = True,
    stack_buffer: str = "percpu",
    idle_maps_target: bool = False,
    reverse_order: str = "6.4",
    exit_wait: bool = False,
    loop_order: str = "fixed",
    symmetry: bool = False,
    live: bool = False,
    kthread: bool = False,
    wake_idle: bool = True,
    reverses: int = -1,
    s1: bool = True,
    s3: bool = True,
    task_curr: bool = True,
    check_below: bool = True,
    reverse_clear_tif: bool = True,
    ups_preempt_off: bool = True,
    hook_preempt_off: bool = True,
    tasklist_lock: bool = True,
    init_idle: bool = True,
    mark_forced: bool = True,
    unregister_sync: bool = True,
    memory: str = "sc",
    b1: bool = True,
    b2: bool = True,
    b3: bool = True,
    b4: bool = True,
    h2_rmb: bool = True,
    h4_rmb: bool = True,
    hook_rmb: bool = True,
    publish: str = "release",
    start_order: bool = True,
) -> Model[State]:
    """Build the model.

    Parameters
    ----------
    scenario
        The admin's script (see the module docstring).
    tasks, cpus, funcs
        Normal tasks, CPUs (each with an idle task) and patchable functions.
    fork
        Add a task slot that task 0 may fork (``dup_task_struct`` then ``klp_copy_process``).
    exiting
        The last normal task may exit: leave the tasklist, keep running, then die.
    idle_calls
        Idle tasks call patched functions too (needed for #3: RCU does not watch idle).
    sched_hook
        Model ``__klp_sched_try_switch`` (v6.4+).
    depth
        Deepest call chain; calls nest in function order (f calls g only when f < g).
    clear_first, sync, fork_recopy, s2, stack_buffer, idle_maps_target, reverse_order
        The race variants (module docstring).
    exit_wait
        A candidate fix for #9: the transition does not complete while a task that left
        the tasklist still runs.
    loop_order
        ``"fixed"``: the admin's loops visit the tasks in slot order, then the idle tasks
        in CPU order. ``"any"``: the normal tasks in any order, then the idle tasks in
        any order (module docstring).
    symmetry
        Declare the symmetry group (every permutation of the normal tasks times every
        permutation of the CPUs, each idle task moving with its CPU; see ``rename``).
        Needs ``loop_order="any"`` and neither ``fork`` nor ``exiting``.
    live
        Check L1 (``transition_completes``) under the fairness assumptions of the
        module docstring ("Liveness").
    kthread
        Task 0 is a CPU-bound kthread pinned to CPU 0: once there it never leaves, never
        returns to user space and calls no patched function (#12).
    wake_idle
        ``klp_try_complete_transition`` kicks idle CPUs (``wake_up_if_idle``,
        5de62ea84abd); ``False``: an idle task that is current never reaches its switch
        point (#11, see "Liveness").
    reverses
        How many times the admin may reverse a transition, in any scenario (-1, the
        default: once in the ``reverse`` scenario, never in the others).
    s1, s3, task_curr, check_below, reverse_clear_tif, ups_preempt_off, hook_preempt_off,
    tasklist_lock, init_idle, mark_forced, unregister_sync
        Each ``false`` removes one protection (module docstring, "Protections"); with
        ``s2``, ``fork_recopy`` and ``stack_buffer`` they are the model's mutants.
    memory
        ``"sc"`` (sequential consistency) or ``"weak"``: the locations of the barrier
        pairs are weak (module docstring, "Weak memory").
    b1, b2, b3, b4, h2_rmb, h4_rmb, hook_rmb
        With ``memory="weak"``, each ``false`` removes one barrier (module docstring).
    publish
        ``"release"`` (``list_add_rcu`` is ``rcu_assign_pointer``) or ``"plain"`` (a
        plain store: what B2 would be needed for).
    start_order
        With ``memory="weak"``: ``klp_start_transition``'s ``pr_notice`` (an unlock and
        a lock on the admin's CPU) orders the ``list_add_rcu`` before the TIF writes;
        ``False`` removes that order (module docstring, "Weak memory").
    """
    for name, size in (
        ("tasks", tasks),
        ("cpus", cpus),
        ("funcs", funcs),
        ("depth", depth),
    ):
        if size < 1:
            raise ValueError(f"{name} must be at least 1, not {size}")
    if kthread and (fork or exiting):
        raise ValueError("kthread singles out task 0: no fork, no exiting")
    if sync not in ("sched", "rcu"):
        raise ValueError("sync is 'sched' (schedule_on_each_cpu) or 'rcu'")
    if stack_buffer not in ("percpu", "shared"):
        raise ValueError("stack_buffer is 'percpu' or 'shared'")
    if reverse_order not in ("6.4", "4.12"):
        raise ValueError("reverse_order is '6.4' or '4.12'")
    if loop_order not in ("fixed", "any"):
        raise ValueError("loop_order is 'fixed' or 'any'")
    _check_memory(
        memory,
        publish,
        (b1, b2, b3, b4, h2_rmb, h4_rmb, hook_rmb, start_order),
        scenario,
    )
    if memory == "weak" and (
        fork
        or exiting
        or idle_calls
        or idle_maps_target
        or symmetry
        or live
        or loop_order != "fixed"
        or stack_buffer != "percpu"
        or sync != "sched"
        or not (ups_preempt_off and hook_preempt_off)
    ):
        raise ValueError(
            "memory='weak' models the barrier pairs only: drop fork, exiting, "
            "idle_calls, idle_maps_target, symmetry, live, loop_order, stack_buffer, "
            "sync and the preemption switches"
        )
    if reverses == -1:
        reverses = 1 if scenario == "reverse" else 0
    if reverses < 0:
        raise ValueError(f"reverses is a count (0 or more), not {reverses}")
    if symmetry and (loop_order != "any" or fork or exiting):
        raise ValueError(
            "symmetry needs loop_order='any' and neither fork nor exiting "
            "(they single out tasks)"
        )
    any_order = loop_order == "any"
    loop_var = "visited" if any_order else "cursor"
    """The field that says where the admin's loop is, for footprints."""
    nslots = tasks + (1 if fork else 0)
    c = _config(scenario, nslots, cpus, funcs)
    npatches = len(c.funcs)
    child = tasks  # the fork slot
    exiter = tasks - 1 if exiting else NULL
    everyone = c.all_tasks
    normal = range(nslots)

    stacks: list[tuple[int, ...]] = [() for _ in range(funcs)]
    for p in c.initially_enabled:
        for f in sorted(c.funcs[p]):
            stacks[f] = (p, *stacks[f])
    init = State(
        prog=IDLE_ADMIN,
        cursor=0,
        visited=(False,) * (nslots + cpus),
        complete=True,
        script=0,
        reverses=reverses,
        forces=1 if scenario in FORCE_SCENARIOS else 0,
        transition_patch=NULL,
        target=KlpState.IDLE,
        enabled=tuple(p in c.initially_enabled for p in range(npatches)),
        forced=(False,) * npatches,
        freed=(False,) * npatches,
        nops_freed=(False,) * npatches,
        transition=(False,) * npatches,
        func_stack=tuple(stacks),
        sched_key=False,
        sync_wait=(False,) * len(everyone),
        stack_buf=(None,) * (cpus if stack_buffer == "percpu" else 1),
        curr=tuple(c.idle(cpu) for cpu in range(cpus)),
        life=tuple(Life.UNBORN if fork and t == child else Life.LIVE for t in normal)
        + (Life.LIVE,) * cpus,
        on_cpu=(NULL,) * nslots + tuple(range(cpus)),
        patch_state=(KlpState.IDLE,) * len(everyone),
        patch_pending=(False,) * len(everyone),
        stack=((),) * len(everyone),
        hpc=(Hpc.NONE,) * len(everyone),
        h_func=(NULL,) * len(everyone),
        h_entry=(NULL,) * len(everyone),
        h_code=(ORIG,) * len(everyone),
        loaded=(KlpState.IDLE,) * len(everyone),
        wrong_call=(False,) * len(everyone),
        unsafe_switch=(False,) * len(everyone),
    )
    # ------------------------------------------------------------------------------------
    # Weak memory (memory="weak"): the locations of the barrier pairs.
    weak = memory == "weak"
    admin_cpu = cpus
    """The admin's CPU: the last of ``WeakMemory``'s CPUs (the tasks' are 0 … cpus-1)."""
    weak_fields = {
        "target": ["target"],
        "transition": [f"transition{p}" for p in range(npatches)],
        "func_stack": [f"func_stack{f}" for f in range(funcs)],
        "patch_state": [f"patch_state{t}" for t in everyone],
        "patch_pending": [f"tif{t}" for t in everyone],
    }
    """Each weak field of State and the locations it is made of (one per element)."""

    def field_values(s: State) -> list[tuple[str, object]]:
        """Every weak location with the value its field holds (in ``mem``'s order)."""
        out: list[tuple[str, object]] = [("target", s.target)]
        for name in ("transition", "func_stack", "patch_state", "patch_pending"):
            out += zip(weak_fields[name], getattr(s, name), strict=True)
        return out

    wm = WeakMemory(cpus + 1, dict(field_values(init)))
    if weak:
        init = init.replace(mem=wm.cells, sb=wm.buffers, work=(False,) * cpus)
    footprint = {"mem", "sb", "work", "sync_wait", "on_cpu", "prog", *weak_fields}
    """What a weak-memory step may touch besides its own footprint."""

    def from_memory(s: State) -> State:
        """The weak fields take the values in memory (after a drain)."""
        vals = [cell.value for cell in s.mem]
        n = [1, npatches, funcs, len(everyone), len(everyone)]
        parts, i = [], 0
        for k in n:
            parts.append(tuple(vals[i : i + k]))
            i += k
        return s.replace(
            target=parts[0][0],
            transition=parts[1],
            func_stack=parts[2],
            patch_state=parts[3],
            patch_pending=parts[4],
        )

    def commit(s: State, cpu: int, sync_all: bool = False) -> State:
        """A step wrote weak fields directly: memory takes them, and the writer's view.

        The admin's view is kept equal to memory (it is never read: the admin reads its
        own buffered stores, else memory). ``sync_all``: every CPU's view is refreshed
        too (``register_ftrace_function``, ``klp_synchronize_transition``).
        """
        if not weak:
            return s
        cells = []
        for cell, (_, v) in zip(s.mem, field_values(s), strict=True):
            views = list(cell.views)
            if cell.value != v:
                views[cpu] = views[admin_cpu] = v
            if sync_all:
                views = [v] * len(views)
            cells.append(Cell(cell.name, v, tuple(views)))
        new = tuple(cells)
        return s if new == s.mem else s.replace(mem=new)

    def admin_view(s: State) -> State:
        """The weak fields as the admin's program sees them: its buffered stores first."""
        if not s.sb[admin_cpu]:
            return s
        pending = {
            loc.name: v for epoch in s.sb[admin_cpu] for loc, v in epoch
        }  # newest last
        vals = [pending.get(name, v) for name, v in field_values(s)]
        cells = tuple(
            Cell(cell.name, v, cell.views) for cell, v in zip(s.mem, vals, strict=True)
        )
        return from_memory(s.replace(mem=cells)).replace(mem=s.mem)

    def tload(s: State, t: int, loc: str) -> Any:
        """Task t reads ``loc`` on its CPU (``READ_ONCE``: its view)."""
        return wm.load(s, s.on_cpu[t], loc)

    def trmb(s: State, t: int) -> State:
        """``smp_rmb()`` on task t's CPU."""
        return s.replace(**wm.rmb(s, s.on_cpu[t]))

    def tload_dep(s: State, t: int, loc: str) -> tuple[Any, State]:
        """An address-dependent load on task t's CPU (its view of ``loc`` catches up)."""
        v, updates = wm.load_dep(s, s.on_cpu[t], loc)
        return v, s.replace(**updates)

    buffered_steps = {
        "klp_init_transition": (False, False),
        "klp_init_transition_task": (False, False),
        "klp_init_transition_funcs": (b1, False),  # the wmb after: see weak_admin
        "klp_patch_object": (False, start_order),
        "klp_start_transition_task": (False, False),
        "klp_reverse_transition_task": (False, False),
        "klp_reverse_transition_flip": (False, b4 and reverse_order == "6.4"),
    }
    """The admin's steps whose stores go through its store buffer, with an ``smp_wmb``
    before and after them. Every other admin step waits for an empty buffer and writes
    memory directly (see "Weak memory")."""
    admin_phase = [True]
    """Steps are the admin's until the first task step is registered."""
    other_fields = [
        f.name
        for f in dataclasses.fields(State)
        if f.name not in weak_fields and f.name not in ("mem", "sb")
    ]

    def weak_admin(
        name: str, effect: Callable[..., State], when: Callable[..., bool] | None
    ) -> tuple[Callable[..., State], Callable[..., bool]]:
        """Wrap one of the admin's steps for weak memory."""

        def guard(s: State, *args: Any) -> bool:
            if when is not None and not when(admin_view(s), *args):
                return False
            if name == "klp_synchronize_transition_done" and any(s.work):
                return False
            if name == "klp_patch_object" and first_publish(s):
                return not s.sb[admin_cpu]  # register_ftrace_function synchronizes
            return name in buffered_steps or not s.sb[admin_cpu]

        def first_publish(s: State) -> bool:
            p = s.prog[0][1] if s.prog else NULL
            return p != NULL and any(not s.func_stack[f] for f in c.funcs[p])

        def eff(s: State, *args: Any) -> State:
            if name not in buffered_steps or (
                name == "klp_patch_object" and first_publish(s)
            ):
                new = effect(s, *args)
                if name == "klp_synchronize_transition":
                    # schedule_on_each_cpu(): the work is queued on every CPU and
                    # runs there once no livepatch region is active (sync_work).
                    return new.replace(
                        sync_wait=(False,) * len(everyone), work=(True,) * cpus
                    )
                sync_all = name == "klp_patch_object" or any(
                    bool(a) != bool(b)
                    for a, b in zip(s.func_stack, new.func_stack, strict=True)
                )
                return commit(new, admin_cpu, sync_all)
            before, after = buffered_steps[name]
            view = admin_view(s)
            new = effect(view, *args)
            if name == "klp_init_transition_funcs":
                enabling = view.target is KlpState.PATCHED
                after = b2 if enabling else b3
            out = s.replace(**{f: getattr(new, f) for f in other_fields})
            if before:
                out = out.replace(**wm.wmb(out, admin_cpu))
            release = name == "klp_patch_object" and publish == "release"
            for (loc, old), (_, v) in zip(
                field_values(view), field_values(new), strict=True
            ):
                if old != v:
                    op = wm.store_release if release else wm.store
                    out = out.replace(**op(out, admin_cpu, loc, v))
            if after:
                out = out.replace(**wm.wmb(out, admin_cpu))
            return out

        functools.update_wrapper(eff, effect)
        functools.update_wrapper(guard, when or effect)
        guard.__name__ = f"{name}_guard"
        return eff, guard

    def weak_task(name: str, effect: Callable[..., State]) -> Callable[..., State]:
        """Wrap a task's step: its direct writes reach memory and its CPU's view."""

        def eff(s: State, *args: Any) -> State:
            new = effect(s, *args)
            if name == "schedule":
                # __schedule(): the rq lock and smp_mb__after_spinlock order the
                # context switch fully; the next task starts with a fresh view.
                return new.replace(**wm.rmb(new, args[0]))
            cpu = s.on_cpu[args[0]] if args and s.on_cpu[args[0]] != NULL else admin_cpu
            return commit(new, cpu)

        functools.update_wrapper(eff, effect)
        return eff

    name = f"livepatch[{scenario}]"
    model = Model(name, init=init, doc=__doc__)
    if weak:
        raw_step = model.step

        def step_for_weak(
            fn: Any = None,
            *,
            when: Callable[..., bool] | None = None,
            over: Any = None,
            reads: Any = None,
            writes: Any = None,
            fair: Any = None,
        ) -> Any:
            def register(effect: Callable[..., State]) -> Callable[..., State]:
                name = effect.__name__
                if admin_phase[0]:
                    eff, guard = weak_admin(name, effect, when)
                else:
                    eff, guard = weak_task(name, effect), when  # type: ignore[assignment]
                raw_step(
                    when=guard,
                    over=over,
                    reads=set(reads or ()) | footprint,
                    writes=set(writes or ()) | footprint,
                    fair=fair,
                )(eff)
                return effect

            return register(fn) if fn is not None else register

        setattr(model, "step", step_for_weak)  # noqa: B010
        raw_invariant = model.invariant

        def invariant_for_weak(fn: Any = None, *, reads: Any = None) -> Any:
            def register(pred: Callable[[State], bool]) -> Callable[[State], bool]:
                if pred.__name__ not in BOOKKEEPING:
                    return raw_invariant(reads=reads)(pred)

                def when_committed(s: State) -> bool:
                    return bool(s.sb[admin_cpu]) or pred(s)

                functools.update_wrapper(when_committed, pred)
                raw_invariant(reads=set(reads or ()) | footprint)(when_committed)
                return pred

            return register(fn) if fn is not None else register

        setattr(model, "invariant", invariant_for_weak)  # noqa: B010

    # ------------------------------------------------------------------------------------
    # Small helpers shared by steps.

    def on_tasklist(s: State, t: int) -> bool:
        """Idle tasks are walked by every loop; normal tasks only while on the tasklist."""
        return c.is_idle(t) or s.life[t] is Life.LIVE

    def tasklist_locked(s: State) -> bool:
        """The admin is inside a ``read_lock(&tasklist_lock)`` loop over normal tasks.

        The lock is taken by the first iteration, so it is held from then until the last
        normal task is visited (fixed order: while the cursor is past task 0 and still
        on a normal task); it is dropped before the idle tasks.

        ``klp_copy_process`` and ``__unhash_process`` take the write lock, so they wait.
        The #10 proposal walks the tasklist under RCU instead and excludes nothing.
        """
        if (
            idle_maps_target
            or not tasklist_lock
            or not s.prog
            or s.prog[0][0] not in TASK_LOOPS
        ):
            return False
        if any_order:
            done = s.visited[:nslots]
            return any(done) and not all(done)
        return 0 < s.cursor < nslots

    def head(s: State) -> Op | None:
        return s.prog[0][0] if s.prog else None

    def at_loop(op: Op) -> Callable[[State, int], bool]:
        """The guard of the loop ``op``'s iteration for task t.

        Fixed order: t is the cursor's task. Any order: t is not visited yet, and an idle
        task only once every normal task is (``for_each_possible_cpu`` comes after the
        tasklist walk).
        """
        if not any_order:
            return lambda s, t: head(s) is op and s.cursor == t
        return lambda s, t: (
            head(s) is op
            and not s.visited[t]
            and (t < nslots or all(s.visited[:nslots]))
        )

    def last_iteration(s: State, t: int) -> bool:
        """The iteration for task t is the loop's last one."""
        if not any_order:
            return s.cursor + 1 == len(everyone)
        return all(v or u == t for u, v in enumerate(s.visited))

    no_visits = init.visited
    loop_start: dict[str, int] = {} if any_order else {"cursor": 0}
    """What an operation that starts a program resets (any order: nothing is left set)."""

    def advance(s: State, t: int, **changes: object) -> State:
        """Finish the iteration for task t: the loop goes on, or the next micro-step."""
        last = last_iteration(s, t)
        s = s.replace(**changes)
        if not last:
            if any_order:
                return s.replace(visited=set_at(s.visited, t, True))
            return s.replace(cursor=s.cursor + 1)
        if any_order:
            return s.replace(prog=Program(s.prog[1:]), visited=no_visits)
        return s.replace(prog=Program(s.prog[1:]), cursor=0)

    def pop(s: State, **changes: object) -> State:
        """Finish a micro-step that is not a loop."""
        return s.replace(prog=Program(s.prog[1:]), **changes)

    def preempt_off(s: State, t: int) -> bool:
        """Task t is inside a livepatch region that runs with preemption disabled.

        The handler always is; ``klp_update_patch_state`` and the scheduler hook are
        unless ``ups_preempt_off``/``hook_preempt_off`` remove that protection.
        """
        h = s.hpc[t]
        return (
            h in HANDLER
            or (ups_preempt_off and h in UPDATE)
            or (hook_preempt_off and h in HOOK)
        )

    def on_its_cpu(s: State, t: int) -> bool:
        """A task in a preemptible region goes on only while it runs; else it always runs."""
        return preempt_off(s, t) or s.on_cpu[t] != NULL

    def leave_region(s: State, t: int, **changes: object) -> State:
        """Leave a livepatch region: the sync stops waiting for this CPU.

        The handler's and the register's locals are reset: they are dead, and stale
        values would only split states.
        """
        return s.replace(
            hpc=set_at(s.hpc, t, Hpc.NONE),
            h_func=set_at(s.h_func, t, NULL),
            h_entry=set_at(s.h_entry, t, NULL),
            h_code=set_at(s.h_code, t, ORIG),
            loaded=set_at(s.loaded, t, KlpState.IDLE),
            sync_wait=set_at(s.sync_wait, t, False),
            **changes,
        )

    def decide(s: State, t: int, code: int) -> State:
        """The handler has fixed the version it will enter (H7-H9 and the entry follow)."""
        return s.replace(
            hpc=set_at(s.hpc, t, Hpc.DECIDED), h_code=set_at(s.h_code, t, code)
        )

    def switch(s: State, t: int, new: KlpState) -> State:
        """Write ``task->patch_state``; record in the ghost when the switch was unsafe."""
        unsafe = s.unsafe_switch
        if new is not s.patch_state[t] and not switch_is_safe(c, s, t, new):
            unsafe = set_at(unsafe, t, True)
        return s.replace(
            patch_state=set_at(s.patch_state, t, new), unsafe_switch=unsafe
        )

    def enter(s: State, t: int, f: int, code: int) -> State:
        """The task enters ``code`` for f (after the handler's H9, or without a handler)."""
        seen = s
        if weak:  # the patch_state this task's CPU sees
            seen = s.replace(
                patch_state=set_at(s.patch_state, t, tload(s, t, f"patch_state{t}"))
            )
        ok = call_is_right(c, seen, t, f, code)
        s = leave_region(s, t, stack=set_at(s.stack, t, (*s.stack[t], (f, code))))
        if not ok:
            s = s.replace(wrong_call=set_at(s.wrong_call, t, True))
        return s

    life_t = {"life[t]"} | ({f"life[{child}]"} if fork else set())
    """What ``runs(s, t)`` reads of ``life``: the task's own, and the fork child's."""

    def runs(s: State, t: int) -> bool:
        """Task t is some CPU's current task, outside any livepatch region, and alive."""
        return (
            s.hpc[t] is Hpc.NONE
            and s.on_cpu[t] != NULL
            and s.life[t] in (Life.LIVE, Life.EXITING)
            and not (fork and t == 0 and s.life[child] in IN_COPY_PROCESS)
        )

    def complete_prog(s: State) -> tuple[AdminOp, ...]:
        """``klp_complete_transition`` in kernel order (variants reorder or drop syncs)."""
        p = s.transition_patch
        ops: list[AdminOp] = []
        sync_ops: list[AdminOp] = [(Op.SYNC, 0), (Op.SYNC_WAIT, 0)]
        if s.target is KlpState.PATCHED:
            if c.replace[p]:
                ops.append((Op.REPLACE, p))
            ops.append((Op.CLEAR, p))
            if s2:
                ops += sync_ops
        elif clear_first:
            ops += [(Op.CLEAR, p), (Op.UNPATCH, p), *sync_ops]
        else:
            ops += [(Op.UNPATCH, p), *(sync_ops if s1 else []), (Op.CLEAR, p)]
        return (*ops, (Op.RESET_TASK, 0), (Op.COMPLETE_DONE, p))

    try_prog: tuple[AdminOp, ...] = ((Op.TRY_TASK, 0), (Op.TRY_DONE, 0))

    # ------------------------------------------------------------------------------------
    # The admin: operations it may start when it does not hold klp_mutex.

    admin_global = {"prog", loop_var, "script", "transition_patch"}

    @model.step(
        when=lambda s: (
            not s.prog and s.transition_patch == NULL and s.script < len(c.script)
        ),
        reads=admin_global,
        writes={"prog", loop_var, "script", "complete"},
    )
    def enabled_store(s: State) -> State:
        """The admin runs the next operation of the scenario's script.

        kernel/livepatch/core.c: klp_enable_patch() -> __klp_enable_patch(), and
        enabled_store() -> __klp_disable_patch(). Both return -EBUSY while
        klp_transition_patch is set, so the script only moves on between transitions.

        Why one step for the decision: taking klp_mutex and the -EBUSY check touch nothing
        a task reads.
        """
        kind, p = c.script[s.script]
        prog: tuple[AdminOp, ...]
        if kind == "immediate":
            prog = ((Op.IMMEDIATE, p),)
        elif kind == "enable":
            prog = (
                (Op.INIT, p),
                (Op.INIT_TASK, 0),
                (Op.INIT_FUNCS, p),
                (Op.PATCH, p),
                (Op.START_TASK, 0),
                (Op.START_DONE, 1),
                *try_prog,
            )
        else:
            prog = (
                (Op.INIT, p),
                (Op.INIT_TASK, 0),
                (Op.INIT_FUNCS, p),
                (Op.START_TASK, 0),
                (Op.START_DONE, 1),
                *try_prog,
            )
        return s.replace(
            prog=Program(prog), **loop_start, script=s.script + 1, complete=True
        )

    @model.step(
        when=lambda s: not s.prog and s.transition_patch != NULL,
        reads={"prog", "transition_patch"},
        writes={"prog", loop_var, "complete"},
    )
    def klp_transition_work_fn(s: State) -> State:
        """The delayed work retries: ``klp_try_complete_transition()`` under klp_mutex.

        kernel/livepatch/transition.c: klp_transition_work_fn()

        Why no timer: "about one second later" is "any time"; with ``live=true`` the
        step is weakly fair (it is queued again while the transition is pending).
        """
        return s.replace(prog=Program(try_prog), **loop_start, complete=True)

    @model.step(
        when=lambda s: not s.prog and s.transition_patch != NULL and s.reverses > 0,
        reads={"prog", "transition_patch", "reverses"},
        writes={"prog", loop_var, "reverses"},
    )
    def klp_reverse_transition(s: State) -> State:
        """Writing ``enabled`` during a transition reverses it.

        kernel/livepatch/transition.c: klp_reverse_transition(), v6.4+ order: clear every
        TIF_PATCH_PENDING, klp_synchronize_transition() (S3), flip enabled and the
        target, smp_wmb (B4), klp_start_transition(). v4.12–v6.3 flipped first.
        ``s3=false`` drops the sync, ``reverse_clear_tif=false`` the clearing loop.
        """
        body: tuple[AdminOp, ...]
        clear: tuple[AdminOp, ...] = (
            *(((Op.REVERSE_CLEAR_TASK, 0),) if reverse_clear_tif else ()),
            *(((Op.SYNC, 0), (Op.SYNC_WAIT, 0)) if s3 else ()),
        )
        flip: tuple[AdminOp, ...] = ((Op.REVERSE_FLIP, 0),)
        start: tuple[AdminOp, ...] = ((Op.START_TASK, 0), (Op.START_DONE, 0))
        body = (
            (*clear, *flip, *start)
            if reverse_order == "6.4"
            else (*flip, *clear, *start)
        )
        return s.replace(prog=Program(body), **loop_start, reverses=s.reverses - 1)

    if scenario in FORCE_SCENARIOS:

        @model.step(
            when=lambda s: not s.prog and s.transition_patch != NULL and s.forces > 0,
            reads={"prog", "transition_patch", "forces"},
            writes={"prog", loop_var, "forces"},
        )
        def force_store(s: State) -> State:
            """The admin writes 1 to ``/sys/kernel/livepatch/<patch>/force``.

            kernel/livepatch/core.c: force_store() -> klp_force_transition(). It calls
            klp_update_patch_state() on every task, running or not, which the documentation
            says can break the consistency model.
            """
            return s.replace(
                prog=Program(((Op.FORCE_TASK, 0),)), **loop_start, forces=s.forces - 1
            )

    # ------------------------------------------------------------------------------------
    # The admin's micro-steps.

    if any(kind == "immediate" for kind, _ in c.script):

        @model.step(
            when=lambda s: head(s) is Op.IMMEDIATE,
            reads={"prog"},
            writes={"prog", "func_stack", "enabled"},
        )
        def klp_enable_immediate(s: State) -> State:
            """An immediate patch goes live at once: no task states, no transition flags.

            kernel/livepatch/core.c (v4.12–4.15): __klp_enable_patch() with patch->immediate;
            klp_init_transition(), klp_start_transition() and the stack checks skip the
            per-task work, so the new func is simply pushed on every func_stack.
            """
            p = s.prog[0][1]
            stacks = tuple(
                (p, *st) if f in c.funcs[p] else st for f, st in enumerate(s.func_stack)
            )
            return pop(s, func_stack=stacks, enabled=set_at(s.enabled, p, True))

    @model.step(
        when=lambda s: head(s) is Op.INIT,
        reads={"prog", "enabled"},
        writes={"prog", "transition_patch", "target"},
    )
    def klp_init_transition(s: State) -> State:
        """Set ``klp_transition_patch`` and ``klp_target_state``.

        kernel/livepatch/transition.c: klp_init_transition(), first part. Enabling
        targets PATCHED; disabling targets UNPATCHED (the patch is enabled iff the
        script says "disable").
        """
        p = s.prog[0][1]
        target = KlpState.UNPATCHED if s.enabled[p] else KlpState.PATCHED
        return pop(s, transition_patch=p, target=target)

    @model.step(
        when=at_loop(Op.INIT_TASK),
        over=everyone,
        reads={"prog", loop_var, "target", "life[t]"},
        writes={"prog", loop_var, "patch_state[t]"},
    )
    def klp_init_transition_task(s: State, t: int) -> State:
        """One task of the loop ``task->patch_state = initial`` (``!target``).

        kernel/livepatch/transition.c: klp_init_transition(), for_each_process_thread
        then the idle tasks. Why one step per task: the handler and the TIF tests run
        concurrently with the loop (only fork and exit are excluded by tasklist_lock).
        ``init_idle=false`` (a mutant) skips the idle tasks. The loop's
        ``WARN_ON_ONCE(task->patch_state != IDLE)`` is the invariant ``init_finds_idle``.
        """
        if not on_tasklist(s, t) or (c.is_idle(t) and not init_idle):
            return advance(s, t)
        initial = (
            KlpState.PATCHED if s.target is KlpState.UNPATCHED else KlpState.UNPATCHED
        )
        return advance(s, t, patch_state=set_at(s.patch_state, t, initial))

    @model.step(
        when=lambda s: head(s) is Op.INIT_FUNCS,
        reads={"prog"},
        writes={"prog", "transition"},
    )
    def klp_init_transition_funcs(s: State) -> State:
        """``func->transition = true`` for every func of the patch (after smp_wmb, B1).

        kernel/livepatch/transition.c: klp_init_transition(), last loop. Why one step for
        all funcs: the handler reads one func's flag per call, and all of them are written
        before anything else the handler reads changes.
        """
        p = s.prog[0][1]
        return pop(s, transition=set_at(s.transition, p, True))

    @model.step(
        when=lambda s: head(s) is Op.PATCH,
        reads={"prog", "func_stack"},
        writes={"prog", "func_stack"},
    )
    def klp_patch_object(s: State) -> State:
        """``list_add_rcu`` the patch's funcs at the head of each ``func_stack``.

        kernel/livepatch/patch.c: klp_patch_object() -> klp_patch_func(); the first func
        of a function also registers the ftrace ops. Why one step for all functions: the
        tasks are all still in the initial state (start has not run), so every call
        resolves to the previous code whether or not a sibling function is already added.
        """
        p = s.prog[0][1]
        stacks = tuple(
            (p, *st) if f in c.funcs[p] else st for f, st in enumerate(s.func_stack)
        )
        return pop(s, func_stack=stacks)

    @model.step(
        when=at_loop(Op.START_TASK),
        over=everyone,
        reads={"prog", loop_var, "target", "life[t]", "patch_state[t]"},
        writes={"prog", loop_var, "patch_pending[t]"},
    )
    def klp_start_transition_task(s: State, t: int) -> State:
        """Set TIF_PATCH_PENDING on one task whose ``patch_state != klp_target_state``.

        kernel/livepatch/transition.c: klp_start_transition(), tasklist loop then idle
        tasks.
        """
        if not on_tasklist(s, t) or s.patch_state[t] is s.target:
            return advance(s, t)
        return advance(s, t, patch_pending=set_at(s.patch_pending, t, True))

    @model.step(
        when=lambda s: head(s) is Op.START_DONE,
        reads={"prog", "transition_patch", "target", "enabled"},
        writes={"prog", "sched_key", "enabled"},
    )
    def klp_start_transition_done(s: State) -> State:
        """Enable the scheduler hook; ``patch->enabled`` follows the direction.

        kernel/livepatch/transition.c: klp_start_transition() (klp_resched_enable()), then
        core.c: __klp_enable_patch()/__klp_disable_patch() set patch->enabled. After a
        reverse, enabled was already flipped (argument 0).
        """
        enabled = s.enabled
        if s.prog[0][1]:
            enabled = set_at(enabled, s.transition_patch, s.target is KlpState.PATCHED)
        return pop(s, sched_key=sched_hook, enabled=enabled)

    @model.step(
        when=at_loop(Op.TRY_TASK),
        over=everyone,
        reads={
            "prog",
            loop_var,
            "complete",
            "life[t]",
            "patch_state[t]",
            "target",
            "on_cpu[t]",
            "stack[t]",
            "hpc[t]",
            *({"hpc"} if stack_buffer == "shared" else set()),
            "transition_patch",
            "func_stack",
            "stack_buf",
        },
        writes={
            "prog",
            loop_var,
            "complete",
            "patch_state[t]",
            "patch_pending[t]",
            "unsafe_switch[t]",
            "stack_buf",
        },
    )
    def klp_try_switch_task(s: State, t: int) -> State:
        """Try to switch one task: ``klp_try_switch_task()`` -> ``klp_check_and_switch_task()``.

        kernel/livepatch/transition.c: klp_try_complete_transition(), one loop iteration.
        Already at the target: true (TIF is *not* cleared). Running (``task_curr``):
        -EBUSY (``task_curr=false``, a mutant, checks and switches it anyway, from the
        frames it has). Otherwise save a reliable trace and check it; if clean, clear TIF and set
        ``patch_state = klp_target_state``.

        Why atomic: ``task_call_func`` holds the task's pi/rq lock, so it cannot run, and
        the admin's trace buffer is its own CPU's. With the shared buffer of #7 the saved
        trace is left in the buffer for a hook that is between its save and its scan.
        """
        if not on_tasklist(s, t) or s.patch_state[t] is s.target:
            return advance(s, t)
        if task_curr and s.on_cpu[t] != NULL:
            return advance(s, t, complete=False)
        trace = s.stack[t]
        if stack_buffer == "shared" and any(h is Hpc.HOOK for h in s.hpc):
            s = s.replace(stack_buf=(trace,))
        if not trace_is_clean(c, s, trace, check_below):
            return advance(s, t, complete=False)
        s = switch(s, t, s.target)
        return advance(s, t, patch_pending=set_at(s.patch_pending, t, False))

    @model.step(
        when=lambda s: head(s) is Op.TRY_DONE,
        reads={"prog", "complete", "transition_patch", "target"}
        | ({"life"} if exit_wait else set()),
        writes={"prog", loop_var, "complete", "sched_key"},
    )
    def klp_try_complete_transition(s: State) -> State:
        """All tasks switched: disable the hook and complete; else retry later.

        kernel/livepatch/transition.c: klp_try_complete_transition(), tail. With
        ``exit_wait`` (a candidate fix for #9, not upstream) an exiting task that is not
        dead yet counts as not switched.
        """
        if exit_wait and any(life is Life.EXITING for life in s.life):
            return s.replace(prog=IDLE_ADMIN, **loop_start, complete=True)
        if not s.complete:
            # `complete` is a local of the function: reset it so it splits no states.
            return s.replace(prog=IDLE_ADMIN, **loop_start, complete=True)
        return s.replace(prog=Program(complete_prog(s)), **loop_start, sched_key=False)

    def unregister_waits(s: State, f: int, gone: int) -> bool:
        """``unregister_ftrace_function`` runs (and waits) when the last entry goes.

        kernel/livepatch/patch.c: klp_unpatch_func(): for a singular func_stack the ftrace
        ops is unregistered first, and ftrace_shutdown() waits for every handler in flight
        (schedule_on_each_cpu-strength, RCU or not). Modelled as: the removal is blocked
        while a handler of f is running. ``unregister_sync=false`` (a mutant) does not
        wait.
        """
        return (
            unregister_sync
            and s.func_stack[f] == (gone,)
            and any(s.h_func[t] == f and s.hpc[t] in HANDLER for t in everyone)
        )

    def unpatch(s: State, p: int, only: frozenset[int] | None = None) -> State:
        stacks = tuple(
            tuple(q for q in st if q != p) if only is None or f in only else st
            for f, st in enumerate(s.func_stack)
        )
        return s.replace(func_stack=stacks)

    def unpatch_blocked(s: State) -> bool:
        op, p = s.prog[0]
        if op is Op.UNPATCH:
            return any(unregister_waits(s, f, p) for f in c.funcs[p])
        # REPLACE: the replaced patches go first (not singular: the new patch is on top),
        # then the nops, which are by then the only entry of their function.
        return any(unregister_waits(unpatch_replaced(s, p), f, p) for f in c.nops[p])

    def unpatch_replaced(s: State, p: int) -> State:
        for q in range(npatches):
            if q != p and s.enabled[q]:
                s = unpatch(s, q)
        return s

    @model.step(
        when=lambda s: head(s) is Op.UNPATCH and not unpatch_blocked(s),
        reads={"prog", "func_stack", "h_func", "hpc"},
        writes={"prog", "func_stack"},
    )
    def klp_unpatch_objects(s: State) -> State:
        """``list_del_rcu`` this patch's funcs from every ``func_stack``.

        kernel/livepatch/patch.c: klp_unpatch_objects() -> klp_unpatch_func(). A handler
        that read the entry before keeps using it (RCU); the removed entry's ``next``
        still leads to the entries below it.
        """
        return pop(unpatch(s, s.prog[0][1]))

    if any(c.replace):

        @model.step(
            when=lambda s: head(s) is Op.REPLACE and not unpatch_blocked(s),
            reads={"prog", "func_stack", "enabled", "h_func", "hpc"},
            writes={"prog", "func_stack", "enabled", "nops_freed"},
        )
        def klp_unpatch_replaced_patches(s: State) -> State:
            """Atomic replace completes: unpatch the replaced patches, then discard the nops.

            kernel/livepatch/core.c: klp_unpatch_replaced_patches() and klp_discard_nops(),
            called first by klp_complete_transition() when patching with ``replace``. No sync
            here: every task is PATCHED and uses the top entry. klp_discard_nops() frees
            the nop klp_funcs at once (``nops_freed``); only unregister_ftrace_function()'s
            wait, when a nop was the last entry, keeps a handler from still holding one.
            """
            p = s.prog[0][1]
            s = unpatch_replaced(s, p)
            enabled = tuple(e and q == p for q, e in enumerate(s.enabled))
            s = unpatch(s, p, only=c.nops[p])
            nops_freed = set_at(s.nops_freed, p, bool(c.nops[p]))
            return pop(s, enabled=enabled, nops_freed=nops_freed)

    @model.step(
        when=lambda s: head(s) is Op.SYNC,
        reads={"prog", "hpc"},
        writes={"prog", "sync_wait"},
    )
    def klp_synchronize_transition(s: State) -> State:
        """The sync begins: it must wait for every CPU now in a preemption-off region.

        kernel/transition.c: klp_synchronize_transition() = schedule_on_each_cpu(klp_sync).
        A CPU runs the work only after it leaves the region it is in. A task cannot
        migrate while preemption is off, so "this CPU" is "the task running there".

        ``sync="rcu"`` (before 842c08846420): synchronize_rcu(), which ignores readers on
        CPUs where RCU is not watching; here the idle tasks.
        """
        wait = tuple(
            preempt_off(s, t) and not (sync == "rcu" and c.is_idle(t)) for t in everyone
        )
        return pop(s, sync_wait=wait)

    @model.step(
        when=lambda s: head(s) is Op.SYNC_WAIT and not any(s.sync_wait),
        reads={"prog", "sync_wait"},
        writes={"prog"},
    )
    def klp_synchronize_transition_done(s: State) -> State:
        """Every CPU that was in a preemption-off region has left it: the sync returns.

        kernel/workqueue.c: schedule_on_each_cpu() -> flush_work() on each CPU.
        """
        return pop(s)

    @model.step(
        when=lambda s: head(s) is Op.CLEAR,
        reads={"prog"},
        writes={"prog", "transition"},
    )
    def klp_complete_transition_clear(s: State) -> State:
        """``func->transition = false`` for every func of the transition patch.

        kernel/livepatch/transition.c: klp_complete_transition().
        """
        return pop(s, transition=set_at(s.transition, s.prog[0][1], False))

    @model.step(
        when=at_loop(Op.RESET_TASK),
        over=everyone,
        reads={"prog", loop_var, "life[t]"},
        writes={"prog", loop_var, "patch_state[t]"},
    )
    def klp_complete_transition_task(s: State, t: int) -> State:
        """``WARN_ON_ONCE(TIF_PATCH_PENDING); task->patch_state = IDLE`` for one task.

        kernel/livepatch/transition.c: klp_complete_transition(), tasklist then idle
        tasks. The WARN is invariant I4 (``completion_finds_all_switched``).
        """
        if not on_tasklist(s, t):
            return advance(s, t)
        return advance(s, t, patch_state=set_at(s.patch_state, t, KlpState.IDLE))

    @model.step(
        when=lambda s: head(s) is Op.COMPLETE_DONE,
        reads={"prog", "enabled", "forced", "freed"},
        writes={"prog", "target", "transition_patch", "freed"},
    )
    def klp_complete_transition_done(s: State) -> State:
        """``klp_target_state = IDLE; klp_transition_patch = NULL``; free unused patches.

        kernel/livepatch/transition.c: klp_complete_transition() tail, then
        klp_try_complete_transition(): klp_free_patch_async() for a disabled patch,
        klp_free_replaced_patches_async() for replace. Forced patches keep their module.

        Why free right here: the module can be removed any time after this, so "freed
        now" is the earliest (most demanding) moment ``rmmod`` could free the code.
        """
        p = s.prog[0][1]
        freed = tuple(
            f
            or (q == p and not s.enabled[q] and not s.forced[q])
            or (
                c.replace[p]
                and q != p
                and q in c.initially_enabled
                and not s.enabled[q]
                and not s.forced[q]
                and s.enabled[p]
            )
            for q, f in enumerate(s.freed)
        )
        return pop(s, target=KlpState.IDLE, transition_patch=NULL, freed=freed)

    @model.step(
        when=at_loop(Op.REVERSE_CLEAR_TASK),
        over=everyone,
        reads={"prog", loop_var, "life[t]"},
        writes={"prog", loop_var, "patch_pending[t]"},
    )
    def klp_reverse_transition_task(s: State, t: int) -> State:
        """``clear_tsk_thread_flag(task, TIF_PATCH_PENDING)`` for one task.

        kernel/livepatch/transition.c: klp_reverse_transition(), tasklist then idle tasks.
        """
        if not on_tasklist(s, t):
            return advance(s, t)
        return advance(s, t, patch_pending=set_at(s.patch_pending, t, False))

    @model.step(
        when=lambda s: head(s) is Op.REVERSE_FLIP,
        reads={"prog", "transition_patch", "enabled", "target"},
        writes={"prog", "enabled", "target"},
    )
    def klp_reverse_transition_flip(s: State) -> State:
        """``patch->enabled = !enabled; klp_target_state = !klp_target_state``.

        kernel/livepatch/transition.c: klp_reverse_transition(). func->transition stays
        set and func_stack is not touched.
        """
        p = s.transition_patch
        flipped = (
            KlpState.PATCHED if s.target is KlpState.UNPATCHED else KlpState.UNPATCHED
        )
        return pop(s, enabled=set_at(s.enabled, p, not s.enabled[p]), target=flipped)

    if scenario in FORCE_SCENARIOS:

        @model.step(
            when=at_loop(Op.FORCE_TASK),
            over=everyone,
            reads={
                "prog",
                loop_var,
                "life[t]",
                "patch_pending[t]",
                "target",
                "transition_patch",
                "stack[t]",
                "hpc[t]",
                "patch_state[t]",
                "func_stack",
                "forced",
            },
            writes={
                "prog",
                loop_var,
                "patch_pending[t]",
                "patch_state[t]",
                "unsafe_switch[t]",
                "forced",
            },
        )
        def klp_force_transition_task(s: State, t: int) -> State:
            """``klp_update_patch_state(task)`` on one task, running or not.

            kernel/livepatch/transition.c: klp_force_transition(). The last iteration also
            marks the patch being removed (or the replaced ones) ``forced``, so that its
            module is never put; ``mark_forced=false`` (a mutant) leaves that out.
            """
            if on_tasklist(s, t) and s.patch_pending[t]:
                s = switch(s, t, s.target)
                s = s.replace(patch_pending=set_at(s.patch_pending, t, False))
            if last_iteration(s, t) and mark_forced:
                p = s.transition_patch
                forced = tuple(
                    f
                    or (q == p and s.target is KlpState.UNPATCHED)
                    or (q != p and c.replace[p])
                    for q, f in enumerate(s.forced)
                )
                s = s.replace(forced=forced)
            return advance(s, t)

    admin_steps = [step.name for step in model.steps]
    admin_phase[0] = False
    """The admin's steps (registered so far); live=true makes them fair."""

    # ------------------------------------------------------------------------------------
    # Tasks: calls through the ftrace handler.

    def may_call(s: State, t: int, f: int) -> bool:
        if (c.is_idle(t) and not idle_calls) or (kthread and t == 0):
            return False
        st = s.stack[t]
        return runs(s, t) and len(st) < depth and (not st or st[-1][0] < f)

    @model.step(
        when=may_call,
        over=[(t, f) for t in everyone for f in range(funcs)],
        reads={
            "on_cpu[t]",
            "hpc[t]",
            *life_t,
            "stack[t]",
            "func_stack[f]",
            "patch_state[t]",
            "transition_patch",
        },
        writes={
            "hpc[t]",
            "h_func[t]",
            "h_entry[t]",
            "sync_wait[t]",
            "stack[t]",
            "wrong_call[t]",
        },
    )
    def klp_ftrace_handler(s: State, t: int, f: int) -> State:
        """Task t calls f. H0 trylock (preemption off), H1 ``list_first_or_null_rcu``.

        kernel/livepatch/patch.c: klp_ftrace_handler(). With an empty func_stack the
        ftrace ops is not registered and the original runs directly.
        """
        st = tload(s, t, f"func_stack{f}") if weak else s.func_stack[f]
        if not st:
            return enter(s, t, f, ORIG)
        if weak and h2_rmb:  # H2, right after the read it orders
            s = trmb(s, t)
        return s.replace(
            hpc=set_at(s.hpc, t, Hpc.H3),
            h_func=set_at(s.h_func, t, f),
            h_entry=set_at(s.h_entry, t, st[0]),
        )

    def handler_at(pc: Hpc) -> Callable[[State, int], bool]:
        return lambda s, t: s.hpc[t] is pc

    @model.step(
        when=handler_at(Hpc.H3),
        over=everyone,
        reads={"hpc[t]", "h_func[t]", "h_entry[t]", "transition"},
        writes={"hpc[t]", "h_code[t]"},
    )
    def klp_ftrace_handler_transition(s: State, t: int) -> State:
        """H2 smp_rmb, H3 read ``func->transition``. Clear: the top entry is decided.

        kernel/livepatch/patch.c: klp_ftrace_handler().
        """
        p, f = s.h_entry[t], s.h_func[t]
        flag = s.transition[p]
        if weak:
            flag, s = tload_dep(s, t, f"transition{p}")
        if flag:
            if weak and h4_rmb:  # H4, right after the read it orders
                s = trmb(s, t)
            return s.replace(hpc=set_at(s.hpc, t, Hpc.H5))
        return decide(s, t, c.code(p, f))

    @model.step(
        when=handler_at(Hpc.H5),
        over=everyone,
        reads={"hpc[t]", "h_func[t]", "h_entry[t]", "patch_state[t]"}
        | ({"target"} if idle_maps_target else set()),
        writes={"hpc[t]", "h_code[t]"},
    )
    def klp_ftrace_handler_patch_state(s: State, t: int) -> State:
        """H4 smp_rmb, H5 read ``current->patch_state``.

        kernel/livepatch/patch.c: klp_ftrace_handler(). UNPATCHED goes on to H6; PATCHED
        decides the top entry; IDLE hits ``WARN_ON_ONCE`` and decides the top entry.
        With ``idle_maps_target`` (the #10 proposal) IDLE reads ``klp_target_state``
        instead (folded into this read: fewer interleavings, so a violation is real).
        """
        p, f = s.h_entry[t], s.h_func[t]
        state = s.patch_state[t]
        if weak:
            state = tload(s, t, f"patch_state{t}")
        if state is KlpState.IDLE and idle_maps_target:
            state = s.target
        if state is KlpState.UNPATCHED:
            return s.replace(hpc=set_at(s.hpc, t, Hpc.H6))
        s = decide(s, t, c.code(p, f))
        if state is KlpState.IDLE:
            return s.replace(hpc=set_at(s.hpc, t, Hpc.WARNED))
        return s

    @model.step(
        when=handler_at(Hpc.H6),
        over=everyone,
        reads={"hpc[t]", "h_func[t]", "h_entry[t]", "func_stack"},
        writes={"hpc[t]", "h_code[t]"},
    )
    def klp_ftrace_handler_prev(s: State, t: int) -> State:
        """H6 ``func = list_entry_rcu(func->stack_node.next)``; the list head means original.

        kernel/livepatch/patch.c: klp_ftrace_handler(). A removed entry's ``next`` still
        leads to the entries below it (``list_del_rcu``).
        """
        p, f = s.h_entry[t], s.h_func[t]
        if weak:  # list_entry_rcu(func->stack_node.next): an address dependency
            _, s = tload_dep(s, t, f"func_stack{f}")
        return decide(s, t, prev_code(c, s, p, f))

    @model.step(
        when=lambda s, t: s.hpc[t] in (Hpc.DECIDED, Hpc.WARNED),
        over=everyone,
        reads={
            "hpc[t]",
            "h_func[t]",
            "h_code[t]",
            "stack[t]",
            "patch_state[t]",
            "transition_patch",
            "func_stack",
        },
        writes={
            "hpc[t]",
            "h_func[t]",
            "h_entry[t]",
            "h_code[t]",
            "loaded[t]",
            "sync_wait[t]",
            "stack[t]",
            "wrong_call[t]",
        },
    )
    def klp_ftrace_handler_return(s: State, t: int) -> State:
        """H7 ``func->nop``, H8 set the return address, H9 unlock: the task enters h_code.

        kernel/livepatch/patch.c: klp_ftrace_handler(). A separate step from the decision
        because the task is still inside the handler in between, where the protocol
        must not switch it (I7): ``task_curr`` keeps the admin's check away, and
        ``klp_update_patch_state`` runs only from current. Why H7–H9 and the entry fold:
        ``func->nop`` never changes, and from the unlock to the first instruction of the
        chosen code the task is at no switch point and takes no livepatch read.
        After the IDLE WARN the handler goes on with the top entry (IDLE is not
        UNPATCHED, so H6 is skipped).
        """
        return enter(s, t, s.h_func[t], s.h_code[t])

    @model.step(
        when=lambda s, t: runs(s, t) and bool(s.stack[t]),
        over=everyone,
        reads={"on_cpu[t]", "hpc[t]", *life_t, "stack[t]"},
        writes={"stack[t]"},
    )
    def function_return(s: State, t: int) -> State:
        """Task t returns from its innermost patched function."""
        return s.replace(stack=set_at(s.stack, t, s.stack[t][:-1]))

    # ------------------------------------------------------------------------------------
    # Tasks: switch points.

    def at_switch_point(s: State, t: int) -> bool:
        """Exit to user space (normal tasks) or the top of the idle loop (idle tasks)."""
        if not s.patch_pending[t] or s.stack[t] or not runs(s, t):
            return False
        if c.is_idle(t):
            return wake_idle
        return s.life[t] is Life.LIVE and not (kthread and t == 0)

    @model.step(
        when=at_switch_point,
        over=everyone,
        reads={"on_cpu[t]", "hpc[t]", *life_t, "stack[t]", "patch_pending[t]"},
        writes={"patch_pending[t]", "hpc[t]"},
    )
    def klp_update_patch_state(s: State, t: int) -> State:
        """``preempt_disable_notrace``; ``test_and_clear_tsk_thread_flag(TIF_PATCH_PENDING)``.

        kernel/livepatch/transition.c: klp_update_patch_state(current), called from
        exit_to_user_mode_loop() and do_idle(). Without TIF the call does nothing, so it
        is not a step. The load of the target and the store of patch_state are the
        next two steps: a reverse or a completion can run in between (what S3 and S2's
        syncs wait for).
        """
        if weak:  # a fully ordered RMW: later loads see memory as of now
            s = trmb(s, t)
        return s.replace(
            patch_pending=set_at(s.patch_pending, t, False),
            hpc=set_at(s.hpc, t, Hpc.UPS),
        )

    def read_target(s: State, t: int, then: Hpc) -> State:
        """Load ``klp_target_state`` into the task's register."""
        target = tload(s, t, "target") if weak else s.target
        return s.replace(hpc=set_at(s.hpc, t, then), loaded=set_at(s.loaded, t, target))

    @model.step(
        when=lambda s, t: s.hpc[t] is Hpc.UPS and on_its_cpu(s, t),
        over=everyone,
        reads={"hpc[t]", "on_cpu[t]", "target"},
        writes={"hpc[t]", "loaded[t]"},
    )
    def klp_update_patch_state_read(s: State, t: int) -> State:
        """``READ_ONCE(klp_target_state)``, the load half of ``task->patch_state = ...``.

        kernel/livepatch/transition.c: klp_update_patch_state().
        """
        return read_target(s, t, Hpc.UPS_LOADED)

    def hook_sees_work(s: State, t: int) -> bool:
        """The hook's TIF test, then (after its ``smp_rmb``) ``patch_state != target``."""
        if not weak:
            return s.patch_pending[t] and s.patch_state[t] is not s.target
        if not tload(s, t, f"tif{t}"):
            return False
        if hook_rmb:  # the views the smp_rmb leaves: memory
            return s.patch_state[t] is not s.target
        return tload(s, t, f"patch_state{t}") is not tload(s, t, "target")

    @model.step(
        when=lambda s, t: (
            sched_hook
            and not c.is_idle(t)
            and runs(s, t)
            and s.sched_key
            and hook_sees_work(s, t)
        ),
        over=normal,
        reads={
            "on_cpu[t]",
            "hpc[t]",
            *life_t,
            "sched_key",
            "patch_pending[t]",
            "patch_state[t]",
            "target",
            "stack[t]",
        },
        writes={"hpc[t]", "stack_buf"},
    )
    def klp_sched_try_switch(s: State, t: int) -> State:
        """The scheduler hook: TIF set, smp_rmb, then save current's stack trace.

        kernel/livepatch/transition.c: __klp_sched_try_switch() -> klp_try_switch_task()
        -> klp_check_stack(): stack_trace_save_tsk_reliable() into klp_stack_entries,
        from __schedule() with preemption off and without klp_mutex. Already at the
        target: nothing to do (not a step).

        Why any running task may take it at any time: from 6.4 to 6.15 it ran from
        cond_resched(), and since 676e8cf70cb0 from any TASK_FREEZABLE sleep; both can
        come anywhere in kernel code.

        Why the TIF test, the ``patch_state == klp_target_state`` test and the save fold
        into one step: ``klp_target_state`` cannot change while a hook is in its region
        (a reverse flips it only after S3's sync, a completion resets it only after the
        S1 or S2 sync), so both tests see the target of the TIF read's moment; TIF may
        be cleared in between (a reverse), but the hook never reads it again, so taking
        both reads at the TIF read gives the same runs. The save reads the task's own
        stack, which only the task changes. With ``s3=false`` (or a region made
        preemptible) the fold may hide runs of those mutants; it cannot hide one of
        the kernel's.

        Why the save and the scan are two steps: the buffer is shared state; before
        e92606fa172f (``stack_buffer="shared"``) it was one static array, so another
        CPU's check could overwrite it in between (#7).
        """
        b = s.on_cpu[t] if stack_buffer == "percpu" else 0
        if weak and hook_rmb:
            s = trmb(s, t)
        return s.replace(
            hpc=set_at(s.hpc, t, Hpc.HOOK),
            stack_buf=set_at(s.stack_buf, b, s.stack[t]),
        )

    @model.step(
        when=lambda s, t: s.hpc[t] is Hpc.HOOK and on_its_cpu(s, t),
        over=normal,
        reads={
            "hpc[t]",
            "on_cpu[t]",
            "stack_buf",
            "transition_patch",
            "target",
            "func_stack",
        },
        writes={
            "hpc[t]",
            "h_func[t]",
            "h_entry[t]",
            "h_code[t]",
            "loaded[t]",
            "sync_wait[t]",
            "stack_buf",
        },
    )
    def klp_sched_try_switch_scan(s: State, t: int) -> State:
        """Scan the saved trace (``klp_check_stack_func`` for each func of the patch).

        kernel/livepatch/transition.c: klp_check_stack(). Clean: the switch follows
        (next steps); else the hook returns. The buffer is dead after the scan; it is
        reset so that stale contents do not split states. The scan reads
        ``klp_target_state`` once for all funcs (the kernel reads it per func; see
        "Abstractions").
        """
        b = s.on_cpu[t] if stack_buffer == "percpu" else 0
        trace = s.stack_buf[b]
        s = s.replace(stack_buf=set_at(s.stack_buf, b, None))
        seen = s.replace(target=tload(s, t, "target")) if weak else s
        if trace is not None and trace_is_clean(c, seen, trace, check_below):
            return s.replace(hpc=set_at(s.hpc, t, Hpc.HOOK_CLEAN))
        return leave_region(s, t)

    @model.step(
        when=lambda s, t: s.hpc[t] is Hpc.HOOK_CLEAN and on_its_cpu(s, t),
        over=normal,
        reads={"hpc[t]", "on_cpu[t]"},
        writes={"hpc[t]", "patch_pending[t]"},
    )
    def klp_sched_try_switch_clear(s: State, t: int) -> State:
        """``clear_tsk_thread_flag(task, TIF_PATCH_PENDING)``.

        kernel/livepatch/transition.c: klp_check_and_switch_task().
        """
        return s.replace(
            hpc=set_at(s.hpc, t, Hpc.HOOK_TIF),
            patch_pending=set_at(s.patch_pending, t, False),
        )

    @model.step(
        when=lambda s, t: s.hpc[t] is Hpc.HOOK_TIF and on_its_cpu(s, t),
        over=normal,
        reads={"hpc[t]", "on_cpu[t]", "target"},
        writes={"hpc[t]", "loaded[t]"},
    )
    def klp_sched_try_switch_read(s: State, t: int) -> State:
        """Read ``klp_target_state``, the load half of ``task->patch_state = ...``.

        kernel/livepatch/transition.c: klp_check_and_switch_task().
        """
        return read_target(s, t, Hpc.HOOK_LOADED)

    @model.step(
        when=lambda s, t: (
            s.hpc[t] in (Hpc.UPS_LOADED, Hpc.HOOK_LOADED) and on_its_cpu(s, t)
        ),
        over=everyone,
        reads={
            "hpc[t]",
            "on_cpu[t]",
            "loaded[t]",
            "stack[t]",
            "patch_state[t]",
            "transition_patch",
            "func_stack",
        },
        writes={
            "patch_state[t]",
            "unsafe_switch[t]",
            "hpc[t]",
            "h_func[t]",
            "h_entry[t]",
            "h_code[t]",
            "loaded[t]",
            "sync_wait[t]",
        },
    )
    def klp_store_patch_state(s: State, t: int) -> State:
        """``task->patch_state = <the target read>``; the region ends (preemption on).

        kernel/livepatch/transition.c: the store half of klp_update_patch_state() and
        klp_check_and_switch_task(). Why the store and the end of the region fold:
        re-enabling preemption only lets the sync's work run, and a sync that returns
        later than it could is one the model already has.
        """
        return leave_region(switch(s, t, s.loaded[t]), t)

    # ------------------------------------------------------------------------------------
    # Scheduling, fork, exit.

    def may_schedule(s: State, cpu: int, prev: int, t: int) -> bool:
        if preempt_off(s, prev) or s.curr[cpu] != prev or s.on_cpu[t] != NULL:
            return False
        if kthread and (prev == 0 or (t == 0 and cpu != 0)):
            return False  # the kthread never leaves CPU 0 once there
        if c.is_idle(prev) and s.stack[prev]:
            return (
                False  # do_idle runs with preemption off; it leaves via schedule_idle
            )
        return c.is_idle(t) or s.life[t] in (Life.LIVE, Life.EXITING)

    @model.step(
        when=may_schedule,
        over=[
            (cpu, prev, t)
            for cpu in range(cpus)
            for prev in everyone
            for t in everyone
            if prev != t
            and (not c.is_idle(prev) or prev == c.idle(cpu))
            and (not c.is_idle(t) or t == c.idle(cpu))
        ],
        reads={"curr[cpu]", "hpc[prev]", "stack[prev]", "on_cpu[t]", "life[t]"},
        writes={"curr[cpu]", "on_cpu[prev]", "on_cpu[t]"},
    )
    def schedule(s: State, cpu: int, prev: int, t: int) -> State:
        """CPU ``cpu`` switches from its current task ``prev`` to task t.

        kernel/sched/core.c: __schedule(). Not from inside a preemption-disabled region.
        A normal task keeps its stack (it may sleep inside a patched function); the
        idle task leaves its CPU only from the top of do_idle(), through
        schedule_idle(), so never with a patched frame (do_idle runs with preemption
        disabled).
        """
        on_cpu = set_at(set_at(s.on_cpu, prev, NULL), t, cpu)
        return s.replace(curr=set_at(s.curr, cpu, t), on_cpu=on_cpu)

    if kthread:

        @model.step(when=lambda s: runs(s, 0), reads={"on_cpu[0]", "hpc[0]", "life[0]"})
        def kthread_loop(s: State) -> State:
            """The CPU-bound kthread (task 0) runs its loop: nothing livepatch sees.

            It never sleeps and never returns to user space (#12, e.g. a kthread that
            spins with cond_resched()); only the scheduler hook can switch it while it runs.
            """
            return s

    if fork:

        @model.step(
            when=lambda s: (
                runs(s, 0) and s.life[child] is Life.UNBORN and not s.stack[0]
            ),
            reads={
                "on_cpu[0]",
                "hpc[0]",
                "life",
                "stack[0]",
                "patch_pending[0]",
                "patch_state[0]",
            },
            writes={
                f"life[{child}]",
                f"patch_pending[{child}]",
                f"patch_state[{child}]",
            },
        )
        def dup_task_struct(s: State) -> State:
            """Task 0 forks: the child's task_struct and thread flags are copied.

            kernel/fork.c: copy_process() -> dup_task_struct() (arch_dup_task_struct,
            setup_thread_stack): TIF_PATCH_PENDING and patch_state come with the copy.
            The child is not on the tasklist yet.
            """
            return s.replace(
                life=set_at(s.life, child, Life.FORKING),
                patch_pending=set_at(s.patch_pending, child, s.patch_pending[0]),
                patch_state=set_at(s.patch_state, child, s.patch_state[0]),
            )

        @model.step(
            when=lambda s: (
                s.on_cpu[0] != NULL
                and s.hpc[0] is Hpc.NONE
                and s.life[child] is Life.FORKING
                and not tasklist_locked(s)
            ),
            reads={
                "on_cpu[0]",
                "hpc[0]",
                f"life[{child}]",
                "prog",
                loop_var,
                "patch_pending[0]",
                f"patch_pending[{child}]",
                "patch_state[0]",
            },
            writes={
                f"life[{child}]",
                f"patch_pending[{child}]",
                f"patch_state[{child}]",
            },
        )
        def klp_copy_process(s: State) -> State:
            """Under ``write_lock(tasklist_lock)``: bring TIF and patch_state up to date, join.

            kernel/livepatch/transition.c: klp_copy_process(), from copy_process(). Since
            747f7a290117 (v6.1) TIF is re-copied from current; before (``fork_recopy=
            false``) only patch_state was. With ``idle_maps_target`` the child starts
            IDLE with TIF clear (#10 proposal). With ``tasklist_lock=false`` the child
            joins the tasklist in a later step (``copy_process_join``). Reading the
            parent's TIF and patch_state in one step is exact even then: the parent is
            running (in copy_process), so a loop iteration on it writes at most one of
            the two (init and reset write the state, start and reverse write TIF, a try
            returns -EBUSY); only force writes both.
            """
            if idle_maps_target:
                pending, state = False, KlpState.IDLE
            else:
                pending = s.patch_pending[0] if fork_recopy else s.patch_pending[child]
                state = s.patch_state[0]
            return s.replace(
                life=set_at(s.life, child, Life.LIVE if tasklist_lock else Life.COPIED),
                patch_pending=set_at(s.patch_pending, child, pending),
                patch_state=set_at(s.patch_state, child, state),
            )

        if not tasklist_lock:

            @model.step(
                when=lambda s: (
                    s.on_cpu[0] != NULL
                    and s.hpc[0] is Hpc.NONE
                    and s.life[child] is Life.COPIED
                ),
                reads={"on_cpu[0]", "hpc[0]", f"life[{child}]"},
                writes={f"life[{child}]"},
            )
            def copy_process_join(s: State) -> State:
                """The child goes on the tasklist (``list_add_tail_rcu``, ``attach_pid``).

                kernel/fork.c: copy_process(). Upstream this is in the same
                ``write_lock(tasklist_lock)`` section as klp_copy_process(), so no loop
                sees the child between the two, and they are one step. Without the
                lock (``tasklist_lock=false``, a mutant) a loop can pass the child's
                place in between.
                """
                return s.replace(life=set_at(s.life, child, Life.LIVE))

    if exiting:

        @model.step(
            when=lambda s: (
                runs(s, exiter)
                and s.life[exiter] is Life.LIVE
                and not tasklist_locked(s)
            ),
            reads={f"on_cpu[{exiter}]", f"hpc[{exiter}]", "life", "prog", loop_var},
            writes={f"life[{exiter}]"},
        )
        def release_task(s: State) -> State:
            """The exiting task leaves the tasklist but keeps running ``do_exit()``.

            kernel/exit.c: do_exit() -> exit_notify() -> release_task() ->
            __unhash_process(), under write_lock(tasklist_lock). Its frames stay: it may be
            inside a patched do_exit(), and it can still call patched functions.
            """
            return s.replace(life=set_at(s.life, exiter, Life.EXITING))

        @model.step(
            when=lambda s: runs(s, exiter) and s.life[exiter] is Life.EXITING,
            reads={f"on_cpu[{exiter}]", f"hpc[{exiter}]", "life"},
            writes={
                f"life[{exiter}]",
                f"stack[{exiter}]",
                f"on_cpu[{exiter}]",
                "curr",
                f"patch_state[{exiter}]",
                f"patch_pending[{exiter}]",
            },
        )
        def do_task_dead(s: State) -> State:
            """The exiting task schedules away for the last time; its stack is freed.

            kernel/sched/core.c: do_task_dead(). Its fields are reset only to keep dead
            tasks from splitting states.
            """
            cpu = s.on_cpu[exiter]
            return s.replace(
                life=set_at(s.life, exiter, Life.DEAD),
                stack=set_at(s.stack, exiter, ()),
                on_cpu=set_at(s.on_cpu, exiter, NULL),
                curr=set_at(s.curr, cpu, c.idle(cpu)),
                patch_state=set_at(s.patch_state, exiter, KlpState.IDLE),
                patch_pending=set_at(s.patch_pending, exiter, False),
            )

    # ------------------------------------------------------------------------------------
    # Invariants I1–I8 (reference §4). Ground truth: I1, I2, I7 and I8 are about what
    # tasks execute (their frames, and the version a handler decided to enter), and
    # ``patch_state_follows_transition`` about which tasks a transition covers. The
    # kernel's own WARNs: I3 (the handler's), I4 (the completion's), ``init_finds_idle``
    # (klp_init_transition's). Bookkeeping of the protocol's own variables: I5, I6 and
    # ``handler_follows_patch_state`` (the reference's per-call I1, which trusts
    # ``patch_state``).

    def chain(s: State, t: int) -> tuple[Frame, ...]:
        """Task t's frames, and the frame its handler has decided to enter."""
        if s.hpc[t] in (Hpc.DECIDED, Hpc.WARNED):
            return (*s.stack[t], (s.h_func[t], s.h_code[t]))
        return s.stack[t]

    @model.invariant(
        reads={"stack", "hpc", "h_func", "h_code", "transition_patch", "func_stack"}
    )
    def no_wrong_universe_call(s: State) -> bool:
        """I1: no task executes a version outside the two universes, nor mixes them.

        Ground truth, from each task's frames (and the version its handler decided to
        enter): while ``klp_transition_patch`` P is set, every frame of a function P
        patches is P's code (a nop: the original) or the previous version (the entry
        below P's in ``func_stack``, or the original), and no call chain holds both a
        frame that only P's version has and one that only the previous version has
        (#10's mixed chain). With no transition, every frame is the top entry's code:
        a completed transition left nobody behind.

        It does not look at ``patch_state``: a task whose state is itself wrong is
        caught by what it runs.
        """
        p = s.transition_patch
        for t in everyone:
            new = old = False
            for f, code in chain(s, t):
                if p == NULL or f not in c.funcs[p]:
                    if code != top_code(c, s, f):
                        return False
                    continue
                mine, prev = c.code(p, f), prev_code(c, s, p, f)
                if code not in (mine, prev):
                    return False
                new |= code == mine and code != prev
                old |= code == prev and code != mine
            if new and old:
                return False
        return True

    @model.invariant(reads={"wrong_call"})
    def handler_follows_patch_state(s: State) -> bool:
        """I1 per call (bookkeeping): each call enters the code ``patch_state`` selects.

        While ``klp_transition_patch`` P is set, a call of a function f that P patches
        runs P's func (a nop: the original) if ``current->patch_state == PATCHED``, and the
        entry below it in ``func_stack`` (or the original) if UNPATCHED; any other call
        runs the top entry (reference §4, I1's first form). It trusts ``patch_state``, so
        it flags a task whose state is stale even when what it runs is right (#9's task
        unhashed while pending, with an empty stack), and misses a task whose state is
        wrong but followed; ``no_wrong_universe_call`` is the ground truth.
        """
        return not any(s.wrong_call)

    @model.invariant(
        reads={"freed", "nops_freed", "stack", "hpc", "h_func", "h_entry", "h_code"}
    )
    def no_removed_function_called(s: State) -> bool:
        """I2: no code or klp_func that was freed is in use.

        Once a patch's module is freed (after its funcs were ``list_del_rcu``'d and a
        ``klp_synchronize_transition`` ran), no task has a frame of its code or has
        decided to enter it, and no ftrace handler still holds one of its klp_funcs;
        nor one of the nop klp_funcs that ``klp_discard_nops`` kfree'd.
        """
        for t in everyone:
            if any(code != ORIG and s.freed[code] for _, code in chain(s, t)):
                return False
            e = s.h_entry[t]
            if (
                s.hpc[t] in HANDLER
                and e != NULL
                and (s.freed[e] or (s.nops_freed[e] and s.h_func[t] in c.nops[e]))
            ):
                return False
        return True

    @model.invariant(reads={"hpc"})
    def handler_never_sees_idle(s: State) -> bool:
        """I3: a handler that read ``func->transition == true`` never reads IDLE.

        kernel/livepatch/patch.c: ``WARN_ON_ONCE(patch_state == KLP_TRANSITION_IDLE)``.
        """
        return all(h is not Hpc.WARNED for h in s.hpc)

    def in_complete(s: State) -> bool:
        return (
            bool(s.prog)
            and s.prog[0][0]
            in (
                Op.REPLACE,
                Op.UNPATCH,
                Op.SYNC,
                Op.SYNC_WAIT,
                Op.CLEAR,
                Op.RESET_TASK,
                Op.COMPLETE_DONE,
            )
            and s.transition_patch != NULL
            and any(o is Op.COMPLETE_DONE for o, _ in s.prog)
        )

    @model.invariant(
        reads={
            "prog",
            loop_var,
            "transition_patch",
            "life",
            "patch_state",
            "patch_pending",
            "target",
        }
    )
    def completion_finds_all_switched(s: State) -> bool:
        """I4: when ``klp_complete_transition`` runs, every task has switched.

        Every task on the tasklist and every idle task has ``patch_state ==
        klp_target_state`` (or IDLE once the reset loop passed it) and TIF_PATCH_PENDING
        clear (the reset loop's ``WARN_ON_ONCE``). In the #10 proposal an IDLE task is by
        design in the target's universe, so IDLE counts as switched there.
        """
        if not in_complete(s):
            return True
        for t in everyone:
            if not on_tasklist(s, t):
                continue
            if s.patch_pending[t]:
                return False
            reset = s.prog[0][0] is Op.COMPLETE_DONE or (
                s.prog[0][0] is Op.RESET_TASK
                and (s.visited[t] if any_order else t < s.cursor)
            )
            want = KlpState.IDLE if reset else s.target
            state = s.patch_state[t]
            if idle_maps_target and state is KlpState.IDLE:
                state = want
            if state is not want:
                return False
        return True

    def visited(s: State, t: int) -> bool:
        """The running loop has passed task t."""
        return s.visited[t] if any_order else t < s.cursor

    def init_reached(s: State, t: int) -> bool:
        """``klp_init_transition``'s loop has set t's initial state (or it never will)."""
        return head(s) is not Op.INIT_TASK or visited(s, t)

    def reset_reached(s: State, t: int) -> bool:
        """``klp_complete_transition``'s loop has reset t to IDLE."""
        return in_complete(s) and (
            head(s) is Op.COMPLETE_DONE or (head(s) is Op.RESET_TASK and visited(s, t))
        )

    @model.invariant(
        reads={"prog", loop_var, "transition_patch", "life", "patch_state"}
    )
    def patch_state_follows_transition(s: State) -> bool:
        """I3, second half: a transition covers exactly the tasks of its time.

        Every task on the tasklist and every idle task is IDLE while no patch is in
        transition, and UNPATCHED or PATCHED from the moment ``klp_init_transition``
        sets its initial state until ``klp_complete_transition`` resets it. (In the #10
        proposal new tasks are IDLE by design, so the second half is not checked there.)
        """
        for t in everyone:
            if not on_tasklist(s, t):
                continue
            idle = s.patch_state[t] is KlpState.IDLE
            if s.transition_patch == NULL:
                if not idle:
                    return False
            elif (
                idle
                and not idle_maps_target
                and init_reached(s, t)
                and not reset_reached(s, t)
            ):
                return False
        return True

    @model.invariant(reads={"prog", loop_var, "life", "patch_state"})
    def init_finds_idle(s: State) -> bool:
        """``klp_init_transition``'s ``WARN_ON_ONCE(task->patch_state != IDLE)``.

        kernel/livepatch/transition.c: klp_init_transition(). Checked in every state
        before the loop reaches the task: only the reset loop and do_task_dead write
        IDLE, so a task that is not IDLE there is not IDLE when the loop reaches it.
        """
        return all(
            init_reached(s, t)
            or not on_tasklist(s, t)
            or s.patch_state[t] is KlpState.IDLE
            for t in everyone
        )

    @model.invariant(
        reads={
            "prog",
            "transition_patch",
            "target",
            "life",
            "patch_pending",
            "patch_state",
        }
    )
    def no_stale_patch_pending(s: State) -> bool:
        """I5: outside klp_mutex, TIF_PATCH_PENDING means "still has to switch".

        For every task on the tasklist and every idle task: TIF_PATCH_PENDING implies
        ``klp_transition_patch != NULL`` and ``patch_state != klp_target_state``.
        """
        if s.prog:
            return True
        return all(
            not s.patch_pending[t]
            or (s.transition_patch != NULL and s.patch_state[t] is not s.target)
            for t in everyone
            if on_tasklist(s, t)
        )

    @model.invariant(reads={"prog", "transition", "transition_patch", "target"})
    def transition_flag_only_on_transition_patch(s: State) -> bool:
        """I6: ``func->transition`` is set only on funcs of ``klp_transition_patch``.

        And outside klp_mutex, ``klp_transition_patch == NULL`` iff ``klp_target_state
        == IDLE``.
        """
        if any(flag and p != s.transition_patch for p, flag in enumerate(s.transition)):
            return False
        return bool(s.prog) or (s.transition_patch == NULL) == (
            s.target is KlpState.IDLE
        )

    @model.invariant(reads={"unsafe_switch", "hpc", "patch_state", "target"})
    def no_unsafe_switch(s: State) -> bool:
        """I7: ``patch_state`` changes only when no live frame contradicts the new state.

        A task is switched only if no frame of a function of ``klp_transition_patch`` on
        its stack is code the new state would not choose, and never while its handler
        has decided (H5 read, or H3 read transition clear) but the task has not entered
        the chosen code yet (``Hpc.H6``, ``WARNED``, ``DECIDED``; Petr Mladek's design
        rule, reference §1.10). And a handler at H6 read UNPATCHED, so the task is still
        UNPATCHED (with ``idle_maps_target``, an IDLE task's universe is
        ``klp_target_state``, which is what its handler read). Ground truth: frames and
        the handler's position, not ``patch_state``'s history.
        """
        if any(s.unsafe_switch):
            return False
        for h, st in zip(s.hpc, s.patch_state, strict=True):
            if idle_maps_target and st is KlpState.IDLE:
                st = s.target
            if h is Hpc.H6 and st is not KlpState.UNPATCHED:
                return False
        return True

    @model.invariant(
        reads={"prog", "transition_patch", "target", "life", "stack", "func_stack"}
    )
    def no_exiting_task_left_behind(s: State) -> bool:
        """I8: a transition never completes while an unhashed task still runs old code.

        When ``klp_complete_transition`` runs, no task that left the tasklist but still
        runs ``do_exit()`` has a frame of a function of the transition patch whose code
        the target state does not choose.
        """
        if not in_complete(s):
            return True
        for t in normal:
            if s.life[t] is not Life.EXITING:
                continue
            for f, code in s.stack[t]:
                want = chosen_code(c, s, s.target, f)
                if want is not None and code != want:
                    return False
        return True

    # ------------------------------------------------------------------------------------
    # Reachable targets: each direction the scenario runs completes.

    def completes(direction: KlpState) -> Callable[[State], bool]:
        def pred(s: State) -> bool:
            return head(s) is Op.COMPLETE_DONE and s.target is direction

        return pred

    directions = set()
    for kind, _ in c.script:
        if kind == "enable":
            directions.add(KlpState.PATCHED)
        elif kind == "disable":
            directions.add(KlpState.UNPATCHED)
    if scenario == "reverse":
        directions.add(KlpState.UNPATCHED)
    if KlpState.PATCHED in directions:
        model.reachable(reads={"prog", "target"})(
            _named(completes(KlpState.PATCHED), "patching_completes")
        )
    if KlpState.UNPATCHED in directions:
        model.reachable(reads={"prog", "target"})(
            _named(completes(KlpState.UNPATCHED), "unpatching_completes")
        )
    # Steps this configuration never uses (its script's directions, s2 off), and the
    # handler's path after the IDLE WARN, which only a race reaches: a complete search
    # that never fires them shows no modelling mistake, so no warning.
    expected: list[str] = []
    if scenario != "reverse":
        expected += [
            "klp_reverse_transition",
            "klp_reverse_transition_task",
            "klp_reverse_transition_flip",
        ]
    if KlpState.PATCHED not in directions:
        expected.append("klp_patch_object")
    if KlpState.UNPATCHED not in directions:
        expected.append("klp_unpatch_objects")
    if not s2:
        expected += ["klp_synchronize_transition", "klp_synchronize_transition_done"]
    model.never_enabled_is_expected(*expected)
    if live:
        _assume_fairness(model, admin_steps)

        @model.leads_to(
            lambda s: s.transition_patch == NULL, reads={"transition_patch"}
        )
        def transition_completes(s: State) -> bool:
            """L1: a started transition completes (``klp_transition_patch`` is NULL again).

            The completion's loop resets every task after I4 found it in the target state.
            """
            return s.transition_patch != NULL

    if symmetry:
        group = [
            (task_perm, cpu_perm)
            for task_perm in itertools.permutations(normal)
            for cpu_perm in itertools.permutations(range(cpus))
        ]
        model.symmetry(group, candidates=sorting_renamings)(rename)
    if weak:
        _weak_steps(model, wm, raw_step, admin_cpu, cpus, footprint, from_memory)

        @raw_step(
            when=lambda s, cpu: s.work[cpu] and not preempt_off(s, s.curr[cpu]),
            over=range(cpus),
            reads=footprint | {"curr", "hpc"},
            writes=footprint,
        )
        def sync_work(s: State, cpu: int) -> State:
            """The sync's work runs on CPU cpu (a context switch: a full barrier).

            kernel/workqueue.c: schedule_on_each_cpu(). It cannot run while the CPU's
            task is in a preemption-disabled region; a region that starts before it
            runs is waited for, and one that starts after it sees every store the
            admin made before the sync.
            """
            s = s.replace(work=set_at(s.work, cpu, False))
            return s.replace(**wm.rmb(s, cpu))

    return model


# Liveness: the fairness each step is assumed to have (module docstring, "Liveness").

CHOICES = ("enabled_store", "klp_reverse_transition", "force_store")
"""Admin steps that are the admin's choice, not work it must finish: no fairness."""

TASK_FAIRNESS = {
    # inside a preemption-disabled region: the CPU runs on until it leaves it
    "klp_ftrace_handler_transition": "weak",
    "klp_ftrace_handler_patch_state": "weak",
    "klp_ftrace_handler_prev": "weak",
    "klp_ftrace_handler_return": "weak",
    "klp_update_patch_state_read": "weak",
    "klp_store_patch_state": "weak",
    "klp_sched_try_switch_scan": "weak",
    "klp_sched_try_switch_read": "weak",
    "klp_sched_try_switch_clear": "weak",
    # taken by a task each time it runs past the point, which it may miss on one run
    "function_return": "strong",
    "klp_update_patch_state": "strong",
    "klp_sched_try_switch": "strong",
}
"""Task steps with a fairness assumption; calls, schedule, fork and exit have none."""


def _assume_fairness(model: Model[State], admin_steps: list[str]) -> None:
    for name in admin_steps:
        if name not in CHOICES:
            model.set_fair(name, "weak")
    present = {step.name for step in model.steps}
    for name, fair in TASK_FAIRNESS.items():
        if name in present:
            model.set_fair(name, fair)


# ----------------------------------------------------------------------------------------
# Symmetry: renaming interchangeable tasks and CPUs.

Perm = tuple[int, ...]
"""A permutation as the new name of each old index: ``perm[old] == new``."""

Renaming = tuple[Perm, Perm]
"""``(task_perm, cpu_perm)``: new slots for the normal tasks, new numbers for the CPUs."""

PER_TASK_PLAIN = (
    "visited",
    "sync_wait",
    "life",
    "patch_state",
    "patch_pending",
    "stack",
    "hpc",
    "h_func",
    "h_entry",
    "h_code",
    "loaded",
    "wrong_call",
    "unsafe_switch",
)
"""Per-task fields whose values name no task or CPU: only the index moves.

``stack`` holds frames (function, code version), ``h_func`` a function, ``h_entry`` a
patch, ``h_code`` a code version and ``loaded`` a KlpState: functions and patches are
not renamed.
"""

PER_CPU = ("curr", "stack_buf")
"""Per-CPU fields: ``curr`` also holds task ids; ``stack_buf`` holds frames (and is one
shared buffer, which does not move, with ``stack_buffer="shared"``)."""

NAMES_A_CPU = ("on_cpu",)
"""Per-task fields whose values are CPU ids (or NULL)."""

KEPT = (
    "prog",
    "cursor",
    "complete",
    "script",
    "reverses",
    "forces",
    "transition_patch",
    "target",
    "enabled",
    "forced",
    "freed",
    "nops_freed",
    "transition",
    "func_stack",
    "sched_key",
    "mem",
    "sb",
    "work",
)
"""Fields that no renaming touches: admin and livepatch globals, per patch or function.

``mem``, ``sb`` and ``work`` are empty: symmetry is not offered with ``memory="weak"``.

``prog`` holds ops and their patch (or flag) argument, never a task. ``cursor`` is a
position in the fixed loop order; symmetry needs ``loop_order="any"``, where it stays 0
(the loops keep ``visited`` instead). ``complete`` is the try's local flag.
"""


def _permuted(items: tuple[T, ...], perm: Perm) -> tuple[T, ...]:
    """``items`` with the element at old index i moved to index ``perm[i]``."""
    out = list(items)
    for old, new in enumerate(perm):
        out[new] = items[old]
    return tuple(out)


def rename(s: State, g: Renaming) -> State:
    """The state ``s`` with its normal tasks and CPUs renamed by ``g``.

    ``g = (task_perm, cpu_perm)``: normal task i becomes ``task_perm[i]``, CPU j becomes
    ``cpu_perm[j]``, and CPU j's idle task moves with it. Per-task fields move by task,
    per-CPU fields by CPU, and values that are task ids (``curr``) or CPU ids
    (``on_cpu``) are renamed too; the fields in ``KEPT`` name neither. Applying g, then
    h, is applying the composed permutations ``i -> h[g[i]]``.

    It is a symmetry of the model built with ``loop_order="any"`` and without ``fork`` or
    ``exiting`` (those single out task 0 and the last task): every step, guard and
    property treats the normal tasks alike, and the CPUs with their idle tasks alike.
    """
    task_perm, cpu_perm = g
    ncpus = len(s.curr)
    ntasks = len(s.life) - ncpus
    sigma = (*task_perm, *(ntasks + cpu for cpu in cpu_perm))  # over every task id
    changes: dict[str, object] = {
        f: _permuted(getattr(s, f), sigma) for f in PER_TASK_PLAIN
    }
    on_cpu = tuple(NULL if cpu == NULL else cpu_perm[cpu] for cpu in s.on_cpu)
    changes["on_cpu"] = _permuted(on_cpu, sigma)
    changes["curr"] = _permuted(tuple(sigma[t] for t in s.curr), cpu_perm)
    if len(s.stack_buf) == ncpus:
        changes["stack_buf"] = _permuted(s.stack_buf, cpu_perm)
    return s.replace(**changes)


ENUM_FIELDS = frozenset({"life", "patch_state", "hpc"})
"""Per-task fields that hold enum members, which do not order: their values do."""


def sorting_renamings(s: State) -> list[Renaming]:
    """The renamings that sort the normal tasks, and the CPUs, on their local state.

    klpcheck looks for the canonical form among these only (``candidates`` of
    ``@model.symmetry``), usually one or two of the ``tasks! * cpus!`` renamings. A
    task's local state is its ``PER_TASK_PLAIN`` fields and whether it runs (not on
    which CPU: that number is renamed); a CPU's is its stack buffer, whether it runs
    its idle task, and the local states of the task it runs and of its idle task.
    Both move with their task or CPU under :func:`rename` and neither depends on the
    other's numbering, so these renamings are exactly those that minimise the tuple of
    local states in slot order, which is what keeps the orbits the same.
    """
    ncpus = len(s.curr)
    ntasks = len(s.life) - ncpus
    columns = [
        tuple(m._value_ for m in getattr(s, f)) if f in ENUM_FIELDS else getattr(s, f)
        for f in PER_TASK_PLAIN
    ]
    columns.append(tuple(cpu == NULL for cpu in s.on_cpu))
    local = list(zip(*columns, strict=True))
    per_cpu = len(s.stack_buf) == ncpus
    cpus = [
        (
            s.stack_buf[cpu] or () if per_cpu else (),
            s.curr[cpu] >= ntasks,
            local[s.curr[cpu]],
            local[ntasks + cpu],
        )
        for cpu in range(ncpus)
    ]
    return [
        (task_perm, cpu_perm)
        for task_perm in _sortings(local[:ntasks])
        for cpu_perm in _sortings(cpus)
    ]


def _sortings(keys: list[T]) -> list[Perm]:
    """Every permutation (``perm[old] == new``) that puts ``keys`` in ascending order."""
    order = sorted(range(len(keys)), key=keys.__getitem__)  # type: ignore[arg-type]
    ties: list[list[int]] = []
    for i in order:
        if ties and keys[ties[-1][0]] == keys[i]:
            ties[-1].append(i)
        else:
            ties.append([i])
    perms = []
    for choice in itertools.product(*(itertools.permutations(tie) for tie in ties)):
        perm = [0] * len(keys)
        for new, old in enumerate(itertools.chain.from_iterable(choice)):
            perm[old] = new
        perms.append(tuple(perm))
    return perms


def _named(fn: Callable[[State], bool], name: str) -> Callable[[State], bool]:
    fn.__name__ = name
    fn.__doc__ = f"A transition in this direction reaches klp_complete_transition's end ({name})."
    return fn


BOOKKEEPING = frozenset(
    {
        "completion_finds_all_switched",
        "patch_state_follows_transition",
        "init_finds_idle",
        "no_stale_patch_pending",
        "transition_flag_only_on_transition_patch",
        "no_unsafe_switch",
    }
)
"""The invariants that read protocol variables (``no_unsafe_switch``: its H6 clause).
Under ``memory="weak"`` they read memory, and are checked in the states where the
admin's store buffer is empty: there memory holds what the admin's program wrote."""

WEAK_SCENARIOS = ("enable", "disable", "stack_enable", "reverse")
"""The scenarios ``memory="weak"`` supports: one pair or more in each."""

BARRIERS = ("b1", "b2", "b3", "b4", "h2_rmb", "h4_rmb", "hook_rmb", "start_order")


def _check_memory(
    memory: str, publish: str, barriers: tuple[bool, ...], scenario: str
) -> None:
    """Reject a weak-memory parameter set the model does not cover (one line each)."""
    if memory not in ("sc", "weak"):
        raise ValueError("memory is 'sc' or 'weak'")
    if publish not in ("release", "plain"):
        raise ValueError("publish is 'release' (list_add_rcu) or 'plain'")
    if memory == "sc" and (publish != "release" or not all(barriers)):
        dropped = [n for n, b in zip(BARRIERS, barriers, strict=True) if not b]
        what = ", ".join(dropped) or "publish"
        raise ValueError(
            f"{what} needs memory='weak': under sequential consistency a barrier "
            "changes nothing"
        )
    if memory == "weak" and scenario not in WEAK_SCENARIOS:
        raise ValueError(
            f"memory='weak' supports the scenarios {', '.join(WEAK_SCENARIOS)}, "
            f"not {scenario!r}"
        )


def _weak_steps(
    model: Model[State],
    wm: WeakMemory,
    raw_step: Callable[..., Callable[[Callable[..., State]], Callable[..., State]]],
    admin_cpu: int,
    cpus: int,
    footprint: set[str],
    from_memory: Callable[[State], State],
) -> None:
    """The memory system's steps: the admin's buffer drains, the tasks' views refresh.

    Only the admin buffers stores (see "Weak memory"), so only its buffer drains; the
    admin reads memory, so only the tasks' CPUs refresh.
    """
    locs = list(wm.locs.values())

    @raw_step(
        when=lambda s, loc: wm.drainable(s, admin_cpu, loc),
        over=locs,
        reads=footprint,
        writes=footprint,
    )
    def drain(s: State, loc: int) -> State:
        """The admin CPU's store buffer writes its oldest store to loc to memory."""
        return from_memory(s.replace(**wm.drain(s, admin_cpu, loc)))

    @raw_step(
        when=lambda s, cpu, loc: wm.stale(s, cpu, loc),
        over=[(cpu, loc) for cpu in range(cpus) for loc in locs],
        reads={"mem"},
        writes={"mem"},
    )
    def refresh(s: State, cpu: int, loc: int) -> State:
        """CPU cpu's view of loc catches up with memory."""
        return s.replace(**wm.refresh(s, cpu, loc))
