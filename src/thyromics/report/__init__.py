"""thyromics.report"""
