"""Demographic differentials, measured the way NIST measures them (``fairness-metrics.md``).

* :mod:`facegate.fairness.metrics`: the measures as pure functions and their result types;
* :mod:`facegate.fairness.summarize`: ``facegate fairness summarize RATES.csv``;
* :mod:`facegate.fairness.gate`: FAIRNESS-GATE, recorded audits and the operator's limits.

Nothing is imported here, so that importing one part (the gate's tables, say) does not load
the others. See ``docs/fairness.md`` for the measures in plain language.
"""
