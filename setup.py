"""Builds the optional C speedups; everything else is in pyproject.toml.

``klpcheck._speedups`` is optional: where it cannot be compiled, klpcheck runs on its
pure-Python twins, which give the same results more slowly.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "klpcheck._speedups",
            ["klpcheck/_speedups.c"],
            optional=True,
            extra_compile_args=["-O2"],
        )
    ]
)
