import pytest

from sitehub.inventory.model import Cluster
from sitehub.render.apache import hcheck_uri, header_spellings
from sitehub.render.urlspace import url_space


def test_every_dash_underscore_spelling_is_listed_once():
    assert header_spellings(["X-Remote-User"]) == [
        "X-Remote-User",
        "X-Remote_User",
        "X_Remote-User",
        "X_Remote_User",
    ]


def test_case_variants_are_not_repeated():
    # Apache compares header names case-insensitively: REMOTE_USER is Remote_User
    assert header_spellings(["Remote-User", "REMOTE_USER", "remote-user"]) == [
        "Remote-User",
        "Remote_User",
    ]


def test_names_without_separators_are_kept():
    assert header_spellings(["Authorization"]) == ["Authorization"]


@pytest.mark.parametrize("bad", ["X Remote", "X-Remote-User:", "", "Ä-User"])
def test_invalid_header_names_are_refused(bad):
    with pytest.raises(ValueError, match="not a valid HTTP header name"):
        header_spellings([bad])


def test_hcheck_uri_is_relative_to_each_member():
    space = url_space(
        Cluster(
            segment="hpc-ic",
            title="t",
            scheduler="local",
            instances=[{"host": "h1", "port": 8000, "route": "a"}],
        )
    )
    member = space.members[0]
    assert hcheck_uri(member.url, member.health_uri) == "hub/health"


def test_hcheck_uri_tolerates_a_trailing_slash_on_the_member():
    assert hcheck_uri("http://h:1/base/", "/base/hub/health") == "hub/health"


@pytest.mark.parametrize(
    ("url", "health"),
    [("http://h:1/base", "/other/hub/health"), ("http://h:1/base", "/base/")],
)
def test_hcheck_uri_outside_or_at_the_member_path_is_refused(url, health):
    with pytest.raises(ValueError):
        hcheck_uri(url, health)
