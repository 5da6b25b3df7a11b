"""What lives in AWS: the boto3 clients, the PynamoDB schema, and the tables and queues it needs."""
