"""A fire (one timer's one fire time): its message, the queue it travels on, and its task record."""
