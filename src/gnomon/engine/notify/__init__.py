"""Notifications: delivering the outbox's events to webhook, Slack and email channels.

Nothing here imports httpx until a notification is sent (see senders.py): a scheduler without
channels, and every command, starts without it.
"""
