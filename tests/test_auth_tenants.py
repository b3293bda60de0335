"""The tenants file (router.service.tenants), the rate limiter and `westward auth hash-token`."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from router.cli.main import main
from router.errors import InvalidInputError
from router.service.ratelimit import RateLimiter
from router.service.tenants import Role, hash_token, load_tenants

TOKEN_HASH = hash_token("research-token")

GOOD = f"""\
tenants:
  - name: research
    role: tenant
    token_sha256: {TOKEN_HASH}
    cohort: ai-lab
    weight: 2
    reclaim_within_cohort: true
    rate_limit_per_s: 50
    quota:
      A800: {{nominal: 512, borrowing_limit: 256, lending_limit: 128}}
  - {{name: ops, role: admin, cert_san: ops.example.com}}
  - {{name: auditor, role: viewer, token_sha256: {hash_token("look")}}}
"""


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tenants.yaml"
    path.write_text(text)
    return path


def test_a_tenants_file_loads_with_identities_roles_and_quotas(tmp_path: Path) -> None:
    tenants = load_tenants(_file(tmp_path, GOOD))
    research = tenants.by_token("research-token")
    assert research is not None and research.role is Role.TENANT
    assert research.rate_limit_per_s == 50
    assert tenants.by_token("research-token ") is None
    assert tenants.by_token("") is None
    ops = tenants.by_cert_san(["other.example.com", "ops.example.com"])
    assert ops is not None and ops.role is Role.ADMIN
    policy = tenants.quota_policy()
    assert set(policy.tenants) == {"research"}
    quota = policy.tenants["research"]
    assert quota.cohort == "ai-lab" and quota.weight == 2 and quota.reclaim_within_cohort
    assert quota.limits["A800"].nominal == 512 and quota.limits["A800"].lendable == 128


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tenants:\n  - {name: a, role: boss, token_sha256: " + TOKEN_HASH + "}\n",
         "tenants.yaml:2: tenants[0].role: must be one of"),
        ("tenants:\n  - {name: a, role: admin}\n",
         "tenants.yaml:2: tenants[0]: must give token_sha256 or cert_san"),
        ("tenants:\n  - {name: a, role: admin, token_sha256: abc}\n",
         "tenants.yaml:2: tenants[0].token_sha256: must be 64 lowercase hex digits"),
        ("tenants:\n  - {name: a, role: admin, token_sha256: " + TOKEN_HASH + "}\n"
         "  - {name: b, role: admin, token_sha256: " + TOKEN_HASH + "}\n",
         "tenants.yaml:3: tenants[1].token_sha256: must be unique; tenants[0] has it"),
        ("tenants:\n  - name: a\n    role: tenant\n    cert_san: a\n    quota:\n"
         "      A800: {nominal: 8, lending_limit: 9}\n",
         "tenants.yaml:6: tenants[0].quota.A800.lending_limit: must be <= nominal (8), got 9"),
        ("tenants:\n  - {name: a, role: tenant, cert_san: a, rate_limit_per_s: .nan}\n",
         "tenants[0].rate_limit_per_s: must be a finite number"),
    ],
)  # fmt: skip
def test_a_bad_tenants_file_names_line_path_and_expectation(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_tenants(_file(tmp_path, text))
    assert expected in str(caught.value)


def test_serve_with_a_bad_tenants_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, "tenants: []\n")
    code = main(["serve", "--auth", str(path), "--state", str(tmp_path / "s.sqlite")])
    assert code == 2
    assert "tenants.yaml:1: tenants" in capsys.readouterr().err


def test_rate_limiter_allows_a_two_second_burst_then_says_when() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert all(limiter.take("a", 5.0) == 0.0 for _ in range(10))
    wait = limiter.take("a", 5.0)
    assert wait == pytest.approx(0.2)
    assert limiter.take("b", 5.0) == 0.0  # buckets are per tenant
    now[0] += 0.2
    assert limiter.take("a", 5.0) == 0.0
    assert limiter.take("a", 5.0) > 0.0


def test_hash_token_prints_the_sha256_of_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("test\n"))
    assert main(["auth", "hash-token"]) == 0
    out = capsys.readouterr().out.strip()
    assert out == "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["auth", "hash-token"]) == 2
    assert "stdin: expected one token" in capsys.readouterr().err
