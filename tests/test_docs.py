"""The documentation a stranger reads: self-contained, links that resolve, examples that
run, and every field and reason code the code knows about described."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from router.model.jobs import parse_jobs
from router.model.topology import default_topology
from router.place.filters import FILTERS
from tests.tools import REPO_ROOT

PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_need_nothing_outside_the_repository(page: Path) -> None:
    text = read(page)
    assert "../shared" not in text and "/work/" not in text and "DESIGN.md" not in text


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    for target in LINK.findall(read(page)):
        if target.startswith(("http://", "https://", "#")):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{page.name} links to missing {target}"
        assert REPO_ROOT in path.parents, f"{page.name} links outside the repository: {target}"


def test_readme_keeps_the_two_setup_commands() -> None:
    text = read(REPO_ROOT / "README.md")
    assert (
        "pip install -e '.[dev]' && westward plan --jobs examples/jobs/east-west-mix.yaml" in text
    )
    assert "pip install -e '.[dev]' && scripts/test" in text
    assert "\nscripts/test\n" in read(REPO_ROOT / ".ci" / "run"), "CI runs the README's tests"
    assert "![" in text and "docs/img/plan-map.png" in text


def test_jobs_page_describes_every_field_of_the_schema() -> None:
    schema = yaml.safe_load(read(REPO_ROOT / "router" / "data" / "jobs.schema.json"))
    job = schema["properties"]["jobs"]["items"]
    fields = set(job["properties"]) | set(job["properties"]["accelerators"]["properties"])
    rows = set(re.findall(r"^\| `(\w+)` \|", read(REPO_ROOT / "docs" / "jobs.md"), re.M))
    assert fields == rows, f"undocumented: {fields - rows}; not in schema: {rows - fields}"


def test_jobs_page_example_is_a_valid_jobs_file() -> None:
    text = read(REPO_ROOT / "docs" / "jobs.md")
    example = re.search(r"## Example\n\n```yaml\n(.*?)```", text, re.S)
    assert example is not None
    jobs = parse_jobs(yaml.safe_load(example.group(1)), default_topology())
    assert [j.name for j in jobs] == ["pretrain-13b", "trading-risk", "climate-ensemble"]
    assert jobs[2].precision == "fp64"  # as the comment says: hpc defaults to fp64


def test_model_page_names_every_reason_code() -> None:
    text = read(REPO_ROOT / "docs" / "model.md")
    codes = [code for f in FILTERS for code in f.texts]
    missing = [code for code in codes if f"`{code}`" not in text]
    assert not missing, f"docs/model.md does not explain {missing}"


def test_topology_page_lists_the_sources_of_the_facts() -> None:
    text = read(REPO_ROOT / "docs" / "topology.md")
    section = text.split("## The facts: sources and figures", 1)[1]
    for source in ("NDRC", "CAICT", "China News Service", "China Daily", "IT Times", "MEE"):
        assert source in section, source
    for figure in ("9.7 ms", "751 Tbps", "0.36", "725.2"):  # a figure from each kind
        assert figure in section, figure
