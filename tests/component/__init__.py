"""Parts working together on moto (an in-process AWS): the API, the pipeline, faults, permissions."""
