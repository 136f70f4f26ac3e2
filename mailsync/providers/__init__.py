"""mailsync/providers package."""
