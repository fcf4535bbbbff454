"""Curation: findings about images and classes, and reversible decisions taken on them.

Each analysis (duplicates, quality, balance, label issues) records ``Finding`` rows of its own
kinds, replacing its previous run's; curators turn findings into ``Decision`` rows (exclude,
relabel), which frozen versions apply. Nothing here deletes an image.
"""
