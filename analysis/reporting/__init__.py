"""From the analysed export to the report: the pipeline that runs every statistic
(analyse), and what it writes (report.html with figures and sentences, results.json,
CSV tables)."""
