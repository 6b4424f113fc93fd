"""A small Celery app standing for a user's existing one: tasks that succeed, fail and retry,
and a beat_schedule for `gnomon import celery-beat`."""
