"""Evaluations as asynchronous jobs: API service, DynamoDB records, SQS chunk workers, finaliser."""
