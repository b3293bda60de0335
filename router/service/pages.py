"""ListReservations pages (AIP-158): opaque page tokens that carry where the next page starts.

A token is bound to the filters it was made with: reusing it with other filters is the
caller's mistake (INVALID_ARGUMENT on page_token), not a silently different listing.
"""

from __future__ import annotations

import base64
import hashlib
import json

from router.errors import FieldProblem, InvalidInputError
from router.v1 import router_pb2 as pb

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000  # also in requests.schema.json (page_size maximum)
MAX_TOKEN_CHARS = 512


def _filters(request: pb.ListReservationsRequest) -> str:
    key = f"{request.site}\x1f{int(request.include_ended)}".encode()
    return hashlib.sha256(key).hexdigest()[:16]


def token(request: pb.ListReservationsRequest, after_seq: int) -> str:
    """The next_page_token for a page that ended at `after_seq`."""
    raw = json.dumps({"after": after_seq, "filters": _filters(request)}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def after(request: pb.ListReservationsRequest) -> int:
    """Where the requested page starts (0: the first page); bad tokens are INVALID_ARGUMENT."""
    if not request.page_token:
        return 0
    seq, same = None, True
    # Ours are ~100 characters; a longer one is not ours, and is not decoded (so neither
    # its size nor its nesting can cost the server).
    if len(request.page_token) <= MAX_TOKEN_CHARS:
        try:
            data = json.loads(base64.urlsafe_b64decode(request.page_token.encode()))
            seq = data["after"]
            same = data["filters"] == _filters(request)
        except (ValueError, TypeError, KeyError):
            seq, same = None, True  # a partial read is no token either
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise InvalidInputError(
            [FieldProblem("page_token", "is not a token this server gave out; start over")]
        )
    if not same:
        raise InvalidInputError(
            [FieldProblem("page_token", "was made for other filters (site, include_ended)")]
        )
    return seq
