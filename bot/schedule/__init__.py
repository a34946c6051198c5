"""Pure time math for schedules: local wall times, zones, the next reminder instant (no clock, no I/O)."""
