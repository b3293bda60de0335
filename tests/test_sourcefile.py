"""Jobs files in YAML, JSON and JSON Lines; lines of fields; YAML syntax hints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from router.errors import InvalidInputError
from router.model.jobs import load_jobs
from router.model.sourcefile import parse_yaml
from router.model.topology import load_topology
from tests.conftest import MINI
from tests.test_bad_input import JOBS


@pytest.fixture
def rows() -> list[dict[str, object]]:
    data = yaml.safe_load(JOBS)
    assert isinstance(data, dict)
    jobs: list[dict[str, object]] = data["jobs"]
    return jobs


def test_json_and_json_lines_load_like_yaml(tmp_path: Path, rows: list[dict[str, object]]) -> None:
    topology = load_topology(MINI)
    (tmp_path / "jobs.yaml").write_text(JOBS)
    (tmp_path / "jobs.json").write_text(json.dumps({"jobs": rows}))
    (tmp_path / "jobs.jsonl").write_text("".join(json.dumps(r) + "\n\n" for r in rows))
    from_yaml = load_jobs(tmp_path / "jobs.yaml", topology)
    assert load_jobs(tmp_path / "jobs.json", topology) == from_yaml
    assert load_jobs(tmp_path / "jobs.jsonl", topology) == from_yaml


def test_json_lines_errors_name_the_job_line(tmp_path: Path, rows: list[dict[str, object]]) -> None:
    rows[1]["hours"] = -3
    path = tmp_path / "jobs.jsonl"
    path.write_text("\n" + "".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(InvalidInputError) as err:
        load_jobs(path, load_topology(MINI))
    problem = err.value.problems[0]
    assert (problem.file, problem.line) == (str(path), 3)
    assert problem.path.startswith("jobs[1].hours")


def test_bad_json_says_where(tmp_path: Path) -> None:
    path = tmp_path / "jobs.json"
    path.write_text('{"jobs": [\n  {"name": "a",}\n]}')
    with pytest.raises(InvalidInputError) as err:
        load_jobs(path, load_topology(MINI))
    assert err.value.problems[0].line == 2 and "invalid JSON" in str(err.value)


def test_yaml_lines_of_nested_fields() -> None:
    source = parse_yaml(JOBS, "jobs.yaml")
    assert source.line_of(("jobs", 1, "accelerators")) == 12
    assert source.line_of(("jobs", 0, "hours")) == 7
    assert source.line_of(("jobs", 0, "nope", "deeper")) == 2  # nearest ancestor
    assert source.data["jobs"][0]["accelerators"] == {"count": 16, "types": ["A800"]}


@pytest.mark.parametrize(
    ("text", "line", "hint"),
    [
        ("jobs:\n  - name: a\n    kind:training\n    hours: 3\n", 4, "a key without its `:`"),
        ("jobs:\n  - name: a\n    kind: training: x\n", 3, "indent this line"),
        ("jobs:\n  - name: a\n   hours: 3\n", 3, "indented differently"),
        ("jobs:\n\t- name: a\n", 2, "indent with spaces"),
    ],
)
def test_yaml_syntax_errors_give_line_column_and_hint(text: str, line: int, hint: str) -> None:
    # Through the C loader, too: the hints match libyaml's words as well as PyYAML's.
    with pytest.raises(InvalidInputError) as err:
        parse_yaml(text, "jobs.yaml")
    problem = err.value.problems[0]
    assert problem.line == line and problem.column is not None
    assert hint in problem.message


def test_yaml_scalars_keep_their_types() -> None:
    data = parse_yaml("a: 0x1F\nb: 1_000\nc: 2.5\nd: .inf\ne: yes\nf: ~\ng: '12'\n").data
    assert data == {
        "a": 31,
        "b": 1000,
        "c": 2.5,
        "d": float("inf"),
        "e": True,
        "f": None,
        "g": "12",
    }


@pytest.mark.parametrize(
    "text",
    [
        JOBS,
        "base: &b {count: 8, types: [A800, H800]}\njobs:\n  - accelerators: *b\n  - {n: *b}\n",
        "a: !!str 12\nb: !!float 3\nc: [1, [2, [3, {d: e}]]]\n'quoted': \"x\\ty\"\n",
        "- 1\n- two\n- 2001-12-14\n- null\n",
        "just a scalar\n",
        "---\n",
    ],
)
def test_yaml_from_events_equals_the_reference_loader(text: str) -> None:
    # The data is built from parser events, never from a node tree: it must be what
    # PyYAML's own safe loader builds, anchors and aliases included.
    assert parse_yaml(text).data == yaml.safe_load(text)


def test_yaml_with_two_documents_or_an_unknown_alias_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="single document") as err:
        parse_yaml("a: 1\n---\nb: 2\n", "two.yaml")
    assert err.value.problems[0].line == 2
    with pytest.raises(InvalidInputError) as err:
        parse_yaml("a: 1\nb: *nowhere\n", "alias.yaml")
    assert err.value.problems[0].line == 2


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("deep.yaml", "jobs: " + "[" * 5000 + "]" * 5000, "nested more than 64 levels deep"),
        ("deep.json", '{"jobs": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
        ("deep.jsonl", "[" * 100_000 + "]" * 100_000 + "\n", "nested too deeply"),
    ],
)
def test_deeply_nested_files_are_refused_not_a_crash(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    # Readers recurse per level: a hostile file must get an error, not a RecursionError.
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InvalidInputError, match=message) as err:
        load_jobs(path, load_topology(MINI))
    assert err.value.problems[0].line == 1


def test_an_alias_bomb_is_refused_before_it_expands() -> None:
    # Nine lines of nested aliases stand for 9**9 strings: refused, and fast.
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 9):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]")
    lines.append("jobs: *a8")
    with pytest.raises(InvalidInputError, match="aliases repeat more than 100,000 values") as err:
        parse_yaml("\n".join(lines) + "\n", "bomb.yaml")
    # Levels 1-4 repeat 74,718 values; the first *a4 in a5 (66,430 more) passes the limit.
    problem = err.value.problems[0]
    assert (problem.path, problem.line) == ("a5[0]", 6)


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
)
_DATA = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(data=_DATA, flow=st.sampled_from([None, True, False]))
def test_yaml_from_events_equals_the_reference_loader_on_random_documents(
    data: object, flow: bool | None
) -> None:
    text = yaml.safe_dump({"root": data}, default_flow_style=flow, allow_unicode=True)
    assert parse_yaml(text).data == yaml.safe_load(text)
