"""Live use: every incident gets its consequences computed automatically; ad hoc what-ifs (docs/simulation.md)."""
