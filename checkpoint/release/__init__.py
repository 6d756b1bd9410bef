"""Releases of the box software: building and signing a wheelhouse (build.py)."""
