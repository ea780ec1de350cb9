"""The parts of bench/policy.py: operator policies, scenarios, timing and the report."""
