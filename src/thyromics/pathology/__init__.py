"""thyromics.pathology"""
