"""Making fires: the minute tick and the migrator that turns schedules into fires."""
