"""The ip service:
Rights holders, IP assets, license marketplace, royalty ledger, statements and payouts."""
