"""What a participant touches: the survey pages, the JSON API, where a participant
stands, saving answers exactly once, pair allocation, and how stimuli are served."""
