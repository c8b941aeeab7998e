"""The live runtime of one process: the hub, per-socket outboxes and the one WebSocket pump."""
