"""thyromics.stats: Table 1 and univariable / multivariable logistic regression.

Submodules are imported on use (``from thyromics.stats.table1 import table1``,
``from thyromics.stats.logistic import univariable, multivariable``) so that importing
the package stays light.
"""

__all__ = ["table1", "logistic"]
