"""The built-in ops, one `Function` subclass each, grouped by family."""
