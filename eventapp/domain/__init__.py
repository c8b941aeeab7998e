"""Business rules as plain functions. Nothing here imports the web layer."""
