import pytest

from sitehub.render.apache import header_spellings


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
