"""The HTTP layer: handlers, request validation, the reply envelope, views, the OpenAPI document and the console."""
