"""The ``facegate`` command line."""
