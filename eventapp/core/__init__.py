"""What every area shares: the database, the shared tables, the bus, permissions, privacy."""
