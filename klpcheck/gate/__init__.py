"""Pinned outcomes: the manifest, the CI gate that checks it, and the pytest plugin."""
