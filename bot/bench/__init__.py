"""Benchmarks behind `backcoach bench`: each prints its figures; none is imported by the product."""
