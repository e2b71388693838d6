"""Pulumi dynamic providers. Each provider class lives at module level so it pickles by reference."""
