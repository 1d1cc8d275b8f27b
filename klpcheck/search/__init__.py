"""The search engines: breadth/depth-first in one process, workers, storage, liveness, simulation."""
