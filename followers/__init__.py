"""Followers of the log: router, SLA watcher, silence tagger, notifier and their loop."""
