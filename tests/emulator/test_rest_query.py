"""The local Lava's query and address parsing: anything but ASCII digits is refused cleanly, and
a number a thousand digits long is a large number, not a crash."""

from __future__ import annotations

import argparse

import pytest

from proxy.emulator.command import listen_address
from proxy.emulator.rest import input as rest_input


@pytest.mark.parametrize("raw", ["²", "١٢", "0", "000", "", "-1", "1.5", " 5", "5 "])
def test_a_limit_that_is_not_a_whole_number_of_at_least_one_is_refused(raw: str) -> None:
    # "²" and Arabic-Indic digits pass str.isdigit() and fail int(): found by the REST fuzz test.
    with pytest.raises(rest_input.Invalid):
        rest_input.limit({"limit": raw})


def test_a_limit_of_any_size_is_read() -> None:
    assert rest_input.limit({}) == rest_input.DEFAULT_PAGE
    assert rest_input.limit({"limit": "007"}) == 7
    assert rest_input.limit({"limit": "9" * 5000}) == rest_input.MAX_PAGE  # int() would refuse it


@pytest.mark.parametrize("value", ["127.0.0.1:²", "127.0.0.1:" + "9" * 5000, "127.0.0.1:65536"])
def test_a_listen_port_that_is_not_ascii_digits_in_range_is_refused(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        listen_address(value)
