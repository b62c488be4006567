"""Statistics for camstudy: reads the responses export and writes the report.

Kept free of imports on purpose: `camstudy report` and `python analysis/report.py`
load pandas, scipy and statsmodels only when they run, and `import analysis`
stays cheap for the other packages' tooling.
"""
