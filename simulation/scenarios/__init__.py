"""What-if scenarios for planners: fork the live state, add events and measures, run in worker processes."""
