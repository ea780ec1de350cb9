"""Transparency and accountability reports, written from the audit log and the registry.

- :mod:`~facegate.reports.transparency`: what happened in a period, for the public
  (``transparency.html``, ``.json`` and one CSV file per table), aggregates only;
- :mod:`~facegate.reports.accountability`: the report Washington's SB 6280 asks of an agency
  for one use case (``accountability.html`` and ``.json``);
- :mod:`~facegate.reports.suppression`: small counts withheld (``<5``) and the counts that
  would give them away (``x``); docs/reports.md states the rules;
- :mod:`~facegate.reports.ledger`: a report's counts, the sums that tie them, its tables;
- :mod:`~facegate.reports.period`: the period read from the database;
- :mod:`~facegate.reports.timing`: the reviews' time to decision;
- :mod:`~facegate.reports.charts`, :mod:`~facegate.reports.render`: bar charts, the HTML
  templates (``templates/``), JSON and CSV files;
- :mod:`~facegate.reports.demographic`, :mod:`~facegate.reports.calibration`,
  :mod:`~facegate.reports.capabilities`: the demographic audit on record, the calibration's
  facts and limitations, and what the policies answer a use case for each capability;
- :mod:`~facegate.reports.sources`: what the reports read from the running service, as a
  protocol (:class:`~facegate.reports.sources.Sources`).
"""
