"""mailsync package."""
