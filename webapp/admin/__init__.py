"""The researcher area: live counts, participants (flagged too fast, unverified or
simulated), export downloads, and its login."""
