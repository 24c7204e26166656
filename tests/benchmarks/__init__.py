"""Benchmarks, run by hand (`make bench`); pytest does not collect them."""
