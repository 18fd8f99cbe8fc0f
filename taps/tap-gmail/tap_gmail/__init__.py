"""Singer tap for Gmail."""
