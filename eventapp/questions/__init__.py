"""Audience questions to the presenter: ask, upvote, moderate, show (issue 16)."""
