"""The benchmark: klpcheck against SPIN, musil, minicheck and a hand-written BFS."""
