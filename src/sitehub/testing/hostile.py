"""Hostile text for the property tests: what an operator could type into a site value.

`hostile` mixes line breaks, NUL, quotes, shell, Jinja and HTML metacharacters and Unicode
line separators (validation refuses much of it); `sneaky` keeps to what validation lets
through to the renderers (no control characters, no Jinja). Used by the unit properties
(tests/unit/render/test_hostile.py) and by the site suite's Apache check
(sitehub.testing.apache_variants).
"""

from __future__ import annotations

from hypothesis import strategies as st

from sitehub.render import quoting

FRAGMENTS = [
    "\n",
    "\r\n",
    "\x00",
    "\x1b",
    "\u2028",
    '"',
    "'",
    "\\",
    "`",
    "$(id)",
    "${HOME}",
    ";",
    "&",
    "|",
    " ",
    "\t",
    "#",
    "%",
    "<",
    ">",
    "</title><script>",
    "{{ x }}",
    "{% raw %}",
    "{#",
    "=",
    "http-enabled=true",
    "\nRequire all granted",
    "-",
    "/",
    "a",
    "é",
]
hostile = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), min_size=1, max_size=6
).map("".join)
# What validation lets through to the renderers: quotes, shell and HTML metacharacters,
# Unicode, but no control characters or Jinja (refused, as the properties also check).
PASSING = [f for f in FRAGMENTS if not quoting.control_character(f) and "{" not in f]
sneaky = st.lists(
    st.one_of(
        st.sampled_from(PASSING),
        st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=4),
    ),
    min_size=1,
    max_size=6,
).map("".join)
# a field keeps the example's value (None) or gets hostile text: most sites stay valid
maybe = st.none() | hostile
