"""What the analysis reads and the rules applied before any statistic: the responses export
(or the survey database's export view), the manifest, the pre-registration record, and the
pre-registered exclusions."""
