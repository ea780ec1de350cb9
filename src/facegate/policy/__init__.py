"""Governance: organizations' use cases, exemptions and people, and the Cedar decision point."""
