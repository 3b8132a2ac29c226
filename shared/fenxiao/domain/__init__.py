"""Pure business rules: no I/O, no clock reads, no boto3, no pydantic I/O models."""
