"""thyromics.deep"""
