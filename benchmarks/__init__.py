"""Benchmarks run side by side with a peer on the same data and machine (``make bench``)."""
