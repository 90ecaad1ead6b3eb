"""The one thing pyproject.toml cannot say: the C extensions (everything else is there): the
PostgreSQL fast lane's core and the MySQL literal-shape scan. Built by `pip install -e .` (in
place) and `pip install .`; they need a C compiler and the Python headers."""

from setuptools import Extension, setup

_FLAGS = ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]

setup(
    ext_modules=[
        Extension(
            "gateway.postgres._lane",
            sources=["gateway/postgres/_lane.c"],
            extra_compile_args=_FLAGS,
        ),
        Extension(
            "gateway.mysql._shape", sources=["gateway/mysql/_shape.c"], extra_compile_args=_FLAGS
        ),
    ]
)
