"""The web console at ``/console``: people (not keys) sign in and work by role."""
