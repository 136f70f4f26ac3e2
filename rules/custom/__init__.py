"""Custom rules written in TOML: the language, its loader and its evaluation."""
