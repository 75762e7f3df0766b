"""Consequence propagation, hydraulics, leaks, traffic and what-if scenarios (to come)."""
