"""keycloak_realm once users have enrolled: converging again (the same users, or one of them
changed in the inventory) keeps their TOTP device, their password and their required actions;
a second converge changes nothing, and they log in with password and code, no new enrollment.
"""

from __future__ import annotations

import copy
import time

import pytest

from sitehub.testing.saml_login import LoginTrace

USER = "alice"


def test_converging_the_realm_after_enrollment_keeps_totp(
    endpoint, site, log_in, keycloak_admin, converge_again
):
    if not endpoint.get("converge_playbook"):
        pytest.skip(
            "the endpoint names no converge playbook to run again: this site is not the "
            "molecule scenario, whose converge takes the users from frontend_test_users"
        )
    # alice has a TOTP device (log_in enrolls one at her first login) and nothing pending
    log_in(USER, f"{site}/mellon/login?ReturnTo={site}/")
    before = keycloak_admin.user(USER)
    assert before["requiredActions"] == []
    credentials = {
        (c["type"], c["id"], c.get("createdDate")) for c in keycloak_admin.credentials(USER)
    }
    assert {kind for kind, _, _ in credentials} == {"password", "otp"}

    # the inventory changes alice's last name: the role must update her, nothing else
    users = copy.deepcopy(endpoint["test_users"])
    renamed = f"Renamed{int(time.time())}"
    for user in users:
        if user["username"] == USER:
            user["last_name"] = renamed
    limit = [endpoint["keycloak_host"], endpoint["frontend_host"]]
    first = converge_again(["realm"], limit, {"frontend_test_users": users})
    assert first.returncode == 0 and first.failed() == 0, first.output[-3000:]
    assert first.changed(endpoint["keycloak_host"]) == 1, first.changed_tasks()

    after = keycloak_admin.user(USER)
    assert after["lastName"] == renamed
    # no new enrollment asked for, and the same password and OTP credentials (not re-set)
    assert after["requiredActions"] == []
    assert {
        (c["type"], c["id"], c.get("createdDate")) for c in keycloak_admin.credentials(USER)
    } == credentials

    # the second converge with the same inventory: nothing to do
    second = converge_again(["realm"], limit, {"frontend_test_users": users})
    assert second.returncode == 0 and second.failed() == 0, second.output[-3000:]
    assert second.changed() == 0, second.changed_tasks()

    # and alice's next login is password + code: Keycloak asks for no new device
    trace = LoginTrace()
    log_in(USER, f"{site}/mellon/login?ReturnTo={site}/", trace=trace)
    assert trace.steps[:3] == ["open", "password", "totp"], trace.steps
