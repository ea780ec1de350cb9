"""The application layer: decide, run and record, for every door (AWS JSON, REST, console,
CLI, administration and the server's maintenance). See :mod:`facegate.actions.acting`."""
