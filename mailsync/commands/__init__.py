"""One module per CLI command group; ``mailsync.cli`` only assembles them."""
