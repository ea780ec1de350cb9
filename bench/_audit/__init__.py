"""The parts of bench/audit.py: records, backends, phases, the latency and million-record runs,
the verification breakdown and the report."""
