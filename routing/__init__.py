"""The road graph in memory, paths, matrices, isochrones, closures and crew dispatch (to come)."""
