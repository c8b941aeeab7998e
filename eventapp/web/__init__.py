"""Transport only: one module per audience, and live.py, the one WebSocket pump."""
