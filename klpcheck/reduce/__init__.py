"""Reductions of the state space (partial order, symmetry) and the audit that checks what they trust."""
