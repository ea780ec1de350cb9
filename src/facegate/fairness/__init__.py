"""Demographic differentials, measured the way NIST measures them (``docs/fairness-metrics.md``).

* :mod:`facegate.fairness.metrics`: the measures as pure functions and their result types
  (one module per concern behind it: results, inputs, thresholds, rates, capture,
  differentials, intervals, bootstrap);
* :mod:`facegate.fairness.worst_group`, :mod:`facegate.fairness.normalization`: the fairer
  threshold options (worst-group threshold, cluster-based score normalization);
* :mod:`facegate.fairness.runner`: ``facegate fairness evaluate``, the audit report (with
  :mod:`~facegate.fairness.pairs` and :mod:`~facegate.fairness.options`), and
  :mod:`facegate.fairness.html`, its page and charts;
* :mod:`facegate.fairness.calibrate`: computing a similarity calibration artifact
  (``facegate calibrate``);
* :mod:`facegate.fairness.summarize`: ``facegate fairness summarize RATES.csv``;
* :mod:`facegate.fairness.gate`: FAIRNESS-GATE, recorded audits and the operator's limits.

Nothing is imported here, so that importing one part (the gate's tables, say) does not load
the others. See ``docs/fairness.md`` for the measures in plain language.
"""
