"""thyromics.features"""
