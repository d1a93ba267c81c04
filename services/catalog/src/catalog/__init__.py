"""The catalog service: Museums, relics with digital twins, creative products, stock and search."""
