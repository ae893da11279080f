"""`jupyter nevis-auth doctor`: checks a configuration against the real provider, step by step."""
