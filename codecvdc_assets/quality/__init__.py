"""Caption quality gates (DESIGN.md section 17): one flag per way a real model's caption goes wrong.

Dagster-free: gates.py (one function per flag on a single caption), duplicates.py (across videos and within
one video), settings.py (the profile's thresholds), rows.py (a table of captions through every gate).
"""
