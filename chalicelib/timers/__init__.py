"""Timers as users define them: the store, their schedules, their statuses."""
