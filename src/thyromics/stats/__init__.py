"""thyromics.stats"""
