"""The local state store (SQLite): received events, webhook secrets, sync cursors."""
