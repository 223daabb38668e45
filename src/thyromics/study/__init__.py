"""thyromics.study"""
