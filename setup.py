"""The one thing pyproject.toml cannot say: the fast lane's C extension (everything else is
there). Built by `pip install -e .` (in place) and `pip install .`; it needs a C compiler and the
Python headers."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "gateway.postgres._lane",
            sources=["gateway/postgres/_lane.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ]
)
