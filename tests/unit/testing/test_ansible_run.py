import pytest

from sitehub.testing.ansible_run import PlaybookRun, parse_recap

# the recap as ansible-core 2.19 prints it (real lines are over 100 characters)
OUTPUT = """
TASK [keycloak_realm : Create the demo users] ***
ok: [frontend-keycloak] => (item=bob)
changed: [frontend-keycloak] => (item=alice)

PLAY RECAP *********************************************************************
frontend-keycloak          : ok=31   changed=1    unreachable=0    failed=0    skipped=3    \
rescued=0    ignored=0
frontend-web               : ok=6    changed=0    unreachable=0    failed=0    skipped=4    \
rescued=0    ignored=0
localhost                  : ok=1    changed=0    unreachable=0    failed=0    skipped=0    \
rescued=0    ignored=0

Playbook run took 0 days, 0 hours, 1 minutes, 2 seconds
"""


def test_recap_counts_per_host():
    recap = parse_recap(OUTPUT)
    assert set(recap) == {"frontend-keycloak", "frontend-web", "localhost"}
    assert recap["frontend-keycloak"]["changed"] == 1
    assert recap["frontend-web"] == {
        "ok": 6,
        "changed": 0,
        "unreachable": 0,
        "failed": 0,
        "skipped": 4,
        "rescued": 0,
        "ignored": 0,
    }


def test_colour_codes_are_ignored():
    coloured = OUTPUT.replace("frontend-web ", "\x1b[0;32mfrontend-web\x1b[0m ").replace(
        "changed=1", "\x1b[0;33mchanged=1   \x1b[0m"
    )
    recap = parse_recap(coloured)
    assert recap["frontend-keycloak"]["changed"] == 1
    assert recap["frontend-web"]["ok"] == 6


def test_the_last_recap_counts():
    first = OUTPUT.replace("changed=1", "changed=7")
    assert parse_recap(first + OUTPUT)["frontend-keycloak"]["changed"] == 1


@pytest.mark.parametrize("text", ["", "TASK [x]\nok: [h]\n", "PLAY RECAP ***\n\n"])
def test_output_without_a_recap_is_an_error(text):
    with pytest.raises(ValueError):
        parse_recap(text)


def test_run_sums_and_names_changed_tasks():
    run = PlaybookRun(0, OUTPUT, parse_recap(OUTPUT))
    assert run.changed() == 1
    assert run.changed("frontend-web") == 0
    assert run.failed() == 0
    assert run.changed_tasks() == ["TASK [keycloak_realm : Create the demo users] ***"]
