"""thyromics.preprocess"""
