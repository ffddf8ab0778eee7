"""Partition functions and likelihood-type metrics."""

from numpyro_ebm.evaluation import exact, metrics

__all__ = ["exact", "metrics"]
