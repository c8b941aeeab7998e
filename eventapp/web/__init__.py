"""Shared web plumbing (rendering, security headers, CSRF) and the pages of no single area."""
