"""Where participants come from, side by side: the lab, Amazon Mechanical Turk and
Prolific (each a ``Source``), their entry routes (the ``recruit`` blueprint) and the
MTurk frame's cookie handling."""
