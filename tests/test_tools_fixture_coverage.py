"""Every recorded API response the research and Hub tools parse is served to them by some test.

(The Hugging Face Jobs recordings, hf_jobs_*, belong to the jobs tools and are exercised there.)
"""

from __future__ import annotations

from pathlib import Path

from research_fakes import HTTP_FIXTURES

TESTS = Path(__file__).resolve().parent
OURS = ["test_tools_http.py", "test_tools_papers.py", "test_tools_hub.py", "research_fakes.py"]


def test_every_research_and_hub_fixture_is_used(fixtures_dir):
    names = sorted(p.name for p in HTTP_FIXTURES.iterdir() if p.suffix in (".json", ".xml"))
    names = [n for n in names if not n.startswith("hf_jobs_")]
    assert len(names) >= 34, names
    sources = "".join((TESTS / f).read_text() for f in OURS)
    unused = [n for n in names if f'"{n}"' not in sources]
    assert unused == []
