"""Common corruptions: benchmark names, -C set generation, and the -C / -P benchmark readers."""
