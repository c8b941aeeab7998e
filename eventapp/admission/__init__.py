"""Who may join an event and how fast: admission modes, invites, join limits (issue 12)."""
