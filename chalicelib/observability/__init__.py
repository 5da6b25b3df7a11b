"""What the service tells its operators: metrics (one catalog, two sinks) and structured logs."""
