"""How a USD amount is written, everywhere the sidecar prints one (usage log, ``/usage``,
``reconcile``, the demo, the billing tables): one function, so one number always reads the same.

The form: the exact decimal, no exponent, trailing zeros dropped but at least two decimal places
(``"0.000282"``, ``"17.00"``, ``"0.00"``). Exact, because a charge never has more digits than
Lava's arithmetic gave it (each tier's part rounded to Lava's 10 places), so padding to 10 places
only adds noise (``0.0002820000``) and rounding would lose what Lava bills; at least two places,
because that is how people read dollars and how ``lava-sidecar billing`` printed Lava's own
amounts already. Before issue 23 the same charge printed as ``"0.0000600"``, ``"0.00006"`` or
``0.0000600000`` depending on the arithmetic and the output that printed it.
"""

from __future__ import annotations

from decimal import Decimal


def usd(value: Decimal) -> str:
    """``Decimal("0.0000600")`` → ``"0.00006"``, ``Decimal("17")`` → ``"17.00"``. The caller
    bounds the magnitude (``format`` writes every digit: ``1E+999`` is a thousand of them)."""
    whole, _, frac = format(value, "f").partition(".")
    frac = frac.rstrip("0")
    if whole == "-0" and not frac:
        whole = "0"
    return f"{whole}.{frac.ljust(2, '0')}"
