"""Counterexamples as data and files: JSON codec, replay, lanes, Mermaid and graph export."""
