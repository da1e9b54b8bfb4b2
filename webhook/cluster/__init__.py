"""The live cluster: the in-memory view, admission reservations, the watch loop, the API client."""
