"""Page tokens a client forged: refused as INVALID_ARGUMENT on page_token, never a crash."""

from __future__ import annotations

import base64

import pytest

from router.errors import InvalidInputError
from router.service import pages
from router.v1 import router_pb2 as pb


def _encoded(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def test_a_token_this_server_made_reads_back() -> None:
    request = pb.ListReservationsRequest(site="guian", include_ended=True)
    token = pages.token(request, after_seq=41)
    again = pb.ListReservationsRequest(site="guian", include_ended=True, page_token=token)
    assert pages.after(again) == 41


@pytest.mark.parametrize(
    "token",
    [
        _encoded(b"[" * 100 + b"]" * 100),  # short, but not ours
        _encoded(b"[" * 100_000 + b"]" * 100_000),  # nested past the decoder's stack
        _encoded(b'{"after": 1, "filters": "' + b"x" * 10_000 + b'"}'),  # far too long
        "not base64 at all!",
    ],
    ids=["nested", "deeply-nested", "long", "garbage"],
)
def test_forged_tokens_are_refused_on_the_field(token: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        pages.after(pb.ListReservationsRequest(page_token=token))
    assert err.value.problems[0].path == "page_token"
