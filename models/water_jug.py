"""The water-jug puzzle of Die Hard 3: measure 4 gallons with a 5- and a 3-gallon jug.

Written as TLA+'s DieHard example is: the "invariant" `big_is_not_goal` is violated on
purpose, so the breadth-first counterexample is a shortest solution (6 steps for 5, 3, 4).
"""

from __future__ import annotations

from klpcheck import Model, Record


class State(Record):
    big: int = 0
    small: int = 0


def build(big: int = 5, small: int = 3, goal: int = 4) -> Model[State]:
    """Jugs of capacity ``big`` and ``small``; the puzzle is solved when big holds ``goal``."""
    model = Model("water_jug", init=State(), doc=__doc__)

    @model.step(writes={"small"})
    def fill_small(s: State) -> State:
        """Fill the small jug from the tap."""
        return s.replace(small=small)

    @model.step(writes={"big"})
    def fill_big(s: State) -> State:
        """Fill the big jug from the tap."""
        return s.replace(big=big)

    @model.step(writes={"small"})
    def empty_small(s: State) -> State:
        """Pour the small jug away."""
        return s.replace(small=0)

    @model.step(writes={"big"})
    def empty_big(s: State) -> State:
        """Pour the big jug away."""
        return s.replace(big=0)

    @model.step(reads={"big", "small"}, writes={"big", "small"})
    def small_to_big(s: State) -> State:
        """Pour the small jug into the big one until one is full or the other empty."""
        poured = min(s.small, big - s.big)
        return State(big=s.big + poured, small=s.small - poured)

    @model.step(reads={"big", "small"}, writes={"big", "small"})
    def big_to_small(s: State) -> State:
        """Pour the big jug into the small one until one is full or the other empty."""
        poured = min(s.big, small - s.small)
        return State(big=s.big - poured, small=s.small + poured)

    @model.invariant(reads={"big"})
    def big_is_not_goal(s: State) -> bool:
        """The big jug does not hold the goal amount (its violation is the solution)."""
        return s.big != goal

    return model
