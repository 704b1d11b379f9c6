# The project's metadata is in pyproject.toml (PEP 621); this shim only keeps
# `python setup.py ...` and tools that look for a setup.py working.
from setuptools import setup

setup()
