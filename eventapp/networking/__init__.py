"""Networking: profiles, contact exchange, matching and suggestions, and their pages."""
