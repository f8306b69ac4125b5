"""GlobalBank data platform on Ray."""
