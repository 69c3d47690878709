"""The local Lava: a Lava-compatible gateway (forward + management REST) for demos, tests and
offline development. See ``contracts`` for the seam between the forward path and the accounts."""
