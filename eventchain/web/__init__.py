"""The web workspace: sign-in, the rep's desk and the director's board (SPEC §3b)."""
