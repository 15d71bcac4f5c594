"""Subnet analyses (the paper's Fig. 1, 5, 6 and 7), their figures, and run reports."""
