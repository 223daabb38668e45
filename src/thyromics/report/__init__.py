"""thyromics.report: the study's figures and its self-contained HTML report.

Entry point: :func:`thyromics.report.build.build_report` (command ``thyromics report``).
Nothing is imported here, so that ``thyromics --help`` stays instant.
"""

__all__: list[str] = []
