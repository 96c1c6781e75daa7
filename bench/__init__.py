"""Load benchmark for the CDS service: `make bench` (or `python -m bench.run`); see bench/README.md.

Timing lives here and only here: the test suite checks that the harness works, never how fast.
"""
