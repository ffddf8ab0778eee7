"""Partition functions and likelihood-type metrics."""

from numpyro_ebm.evaluation import exact

__all__ = ["exact"]
