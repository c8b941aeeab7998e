"""The organiser's tools: settings, pitches, imports, the report, the console and the CLI."""
