"""thyromics.evaluate"""
