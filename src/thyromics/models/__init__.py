"""thyromics.models"""
