"""The record of every request and administrative action."""
