"""The statistics: each a function of the analysed frame (after exclusions) returning frozen
result objects (analysis.stats.results), or raising NotComputable with the reason; and the
power search, which simulates the pre-registered decision."""
