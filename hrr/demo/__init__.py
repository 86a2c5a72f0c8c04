"""``hrr demo``: the library's end-to-end showcase on data that ships with installed packages."""

from hrr.demo._afr import run_afr_demo

__all__ = ["run_afr_demo"]
