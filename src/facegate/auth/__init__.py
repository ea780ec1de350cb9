"""Authentication of API callers: AWS Signature Version 4 and API key secrets at rest."""
