"""keycloak_realm once users have enrolled: converging again (the same users, or one of them
changed in the inventory) keeps their TOTP device, their password and their required actions;
a second converge changes nothing, and they log in with password and code, no new enrollment.

The endpoint names the playbook to converge again and the variable that carries the realm's
users: the scenario's converge.yml with `frontend_test_users`, or on the demo site
playbooks/identity.yml with the role's own `keycloak_realm_demo_users` (the inventory's
users as the role takes them). A last converge puts the user back as the inventory has her.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import pytest

from sitehub.testing.saml_login import LoginTrace

USER = "alice"


def test_converging_the_realm_after_enrollment_keeps_totp(
    endpoint, site, log_in, keycloak_admin, converge_again
):
    if not endpoint.get("converge_playbook"):
        pytest.fail("the endpoint names no playbook that converges the realm again")
    users_var = endpoint.get("realm_users_var", "frontend_test_users")
    # alice has a TOTP device (log_in enrolls one at her first login) and nothing pending
    log_in(USER, f"{site}/mellon/login?ReturnTo={site}/")
    before = keycloak_admin.user(USER)
    assert before["requiredActions"] == []
    credentials = {
        (c["type"], c["id"], c.get("createdDate")) for c in keycloak_admin.credentials(USER)
    }
    assert {kind for kind, _, _ in credentials} == {"password", "otp"}

    # the inventory changes alice's last name: the role must update her, nothing else. Each
    # user goes with the password the site keeps for them (the role checks that a user has
    # one; it sets it only on creation)
    users = copy.deepcopy(endpoint["test_users"])
    for user in users:
        user["password"] = (Path(endpoint["passwords_dir"]) / user["username"]).read_text().strip()
    renamed = f"Renamed{int(time.time())}"
    for user in users:
        if user["username"] == USER:
            user["last_name"] = renamed
    limit = [endpoint["keycloak_host"], endpoint["frontend_host"]]
    try:
        first = converge_again(["realm"], limit, {users_var: users})
        assert first.returncode == 0 and first.failed() == 0, first.output[-3000:]
        assert first.changed(endpoint["keycloak_host"]) == 1, first.changed_tasks()

        after = keycloak_admin.user(USER)
        assert after["lastName"] == renamed
        # no new enrollment asked for, and the same password and OTP credentials (not re-set)
        assert after["requiredActions"] == []
        assert {
            (c["type"], c["id"], c.get("createdDate")) for c in keycloak_admin.credentials(USER)
        } == credentials

        # the second converge with the same users: nothing to do
        second = converge_again(["realm"], limit, {users_var: users})
        assert second.returncode == 0 and second.failed() == 0, second.output[-3000:]
        assert second.changed() == 0, second.changed_tasks()

        # and alice's next login is password + code: Keycloak asks for no new device
        trace = LoginTrace()
        log_in(USER, f"{site}/mellon/login?ReturnTo={site}/", trace=trace)
        assert trace.steps[:3] == ["open", "password", "totp"], trace.steps
    finally:
        # as the inventory has her again, so a later converge of the site changes nothing
        restored = converge_again(["realm"], limit)
    assert restored.returncode == 0 and restored.failed() == 0, restored.output[-3000:]
    assert keycloak_admin.user(USER)["lastName"] == before["lastName"]
