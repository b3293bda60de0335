"""The optimisation only: one problem form (problem), one pipeline (pipeline.solve)."""
