"""Blind pairwise subjective evaluation sessions (issue 4).

``design`` (what is compared: the session file), ``folder`` (a session on disk: images, stimuli,
vote log), ``stimuli`` (the crops of every condition at matched rate), ``schedule`` (each rater's
trials), ``votelog`` (SQLite, one committed row per vote), ``scoring`` (Elo, Bradley–Terry,
bootstrap), ``screening`` (rater checks), ``report`` (tables, plot, exports), ``cli``
(``percomp sessions …``). The protocol is described in ``docs/sessions.md``.
"""
