"""sitehub.render.quoting: each rule returns what its language reads back as the value,
or refuses."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from sitehub.render import quoting


@pytest.mark.parametrize("bad", ["a b", 'a"b', "a\\b", "a\nb", "<If", "", "x\x00"])
def test_apache_word_refuses_what_is_not_one_word(bad):
    with pytest.raises(quoting.UnsafeText):
        quoting.apache_word(bad)


def test_apache_word_keeps_plain_words():
    assert quoting.apache_word("http://h:8000/jupyterhub/hpc") == "http://h:8000/jupyterhub/hpc"


def test_apache_quoted_escapes_quotes_and_backslashes():
    assert quoting.apache_quoted('a "b" \\c') == '"a \\"b\\" \\\\c"'
    with pytest.raises(quoting.UnsafeText, match="U\\+000A"):
        quoting.apache_quoted("a\nRequire all granted")


@pytest.mark.parametrize("value", ["plain", "it's", "$(id)", "a\nb", "`x`", ""])
def test_shell_word_round_trips_through_bash(value):
    word = quoting.shell_word(value)
    assert shlex.split(word) == [value]
    out = subprocess.run(
        ["bash", "-c", f"printf %s {word}"], capture_output=True, text=True, check=True
    ).stdout
    assert out == value


def test_shell_word_refuses_nul():
    with pytest.raises(quoting.UnsafeText):
        quoting.shell_word("a\x00b")


def test_systemd_instance_names():
    assert quoting.systemd_instance("hpc-hub1") == "hpc-hub1"
    for bad in ("a b", "a/b", "x" * 250, "a\n"):
        with pytest.raises(quoting.UnsafeText):
            quoting.systemd_instance(bad)


def test_keycloak_value_and_key():
    assert quoting.keycloak_value("pa\\ss") == "pa\\\\ss"
    with pytest.raises(quoting.UnsafeText):
        quoting.keycloak_value("https://sso\nhttp-enabled=true")
    assert quoting.keycloak_key("db-url-host") == "db-url-host"
    with pytest.raises(quoting.UnsafeText):
        quoting.keycloak_key("http-enabled=true\nx")


def test_html_text_escapes_markup_and_quotes():
    assert quoting.html_text('<a href="x">&\'') == "&lt;a href=&quot;x&quot;&gt;&amp;&#x27;"


def test_control_character_names_the_first():
    assert quoting.control_character("ok") is None
    assert quoting.control_character("a\u2028b\n") == "U+2028"


def test_filters_are_the_same_functions():
    from sitehub.render.frontend import ANSIBLE_FILTERS

    for name, function in quoting.FILTERS.items():
        assert ANSIBLE_FILTERS[name] is function
