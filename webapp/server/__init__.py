"""How the survey is served: ``camstudy serve`` (development server or gunicorn),
security headers, CSRF and rate limits, the access log, and ``/healthz``."""
