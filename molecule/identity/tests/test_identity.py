"""Scenario `identity`: a real Keycloak, driven from the controller through its login pages.

Run by verify.yml with IDENTITY_ENDPOINT pointing at the JSON converge.yml wrote.
Traffic goes only to the scenario's Keycloak container.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests

from sitehub.testing.keycloak_login import KeycloakLogin, decode_saml_response

NS = {
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
}
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


@pytest.fixture(scope="module")
def endpoint() -> dict:
    return json.loads(Path(os.environ["IDENTITY_ENDPOINT"]).read_text())


@pytest.fixture(scope="module")
def artifacts(endpoint) -> Path:
    """Where XML for the signature checks in verify.yml is left."""
    path = Path(os.environ["IDENTITY_ARTIFACTS"])
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def http(endpoint) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy, and the test CA rather than REQUESTS_CA_BUNDLE
    session.verify = endpoint["ca_file"]
    return session


class Admin:
    """Just enough of the admin REST API to set up and inspect test users."""

    def __init__(self, endpoint: dict, http: requests.Session):
        self.http = http
        # the admin listener: the public one refuses /admin/ and the master realm
        self.base = endpoint["admin_url"]
        self.realm = endpoint["realm"]
        self.username = endpoint["admin_username"]
        self.password = Path(endpoint["admin_password_file"]).read_text().strip()

    def _headers(self) -> dict:
        token = self.http.post(
            f"{self.base}/realms/master/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": self.username,
                "password": self.password,
            },
            timeout=60,
        )
        token.raise_for_status()
        return {"Authorization": f"Bearer {token.json()['access_token']}"}

    def call(self, method: str, path: str, realm: str | None = None, **kwargs):
        url = f"{self.base}/admin/realms/{realm or self.realm}{path}"
        response = self.http.request(method, url, headers=self._headers(), timeout=60, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def user(self, username: str, realm: str | None = None) -> dict | None:
        found = self.call("GET", "/users", realm, params={"username": username, "exact": "true"})
        return found[0] if found else None

    def create_user(self, username: str, password: str, required_actions: list[str]) -> dict:
        old = self.user(username)
        if old:
            self.call("DELETE", f"/users/{old['id']}")
        self.call(
            "POST",
            "/users",
            json={
                "username": username,
                "enabled": True,
                "email": f"{username}@verify.invalid",
                "emailVerified": True,
                "firstName": "Verify",
                "lastName": "User",
                "credentials": [{"type": "password", "value": password, "temporary": False}],
                "requiredActions": required_actions,
            },
        )
        user = self.user(username)
        # Keycloak may add its default required actions on creation: set them exactly.
        self.call("PUT", f"/users/{user['id']}", json={"requiredActions": required_actions})
        return self.user(username)

    def forget_otp(self, user: dict) -> None:
        for credential in self.call("GET", f"/users/{user['id']}/credentials"):
            if credential["type"] == "otp":
                self.call("DELETE", f"/users/{user['id']}/credentials/{credential['id']}")
        self.call("DELETE", f"/attack-detection/brute-force/users/{user['id']}")

    def lockout(self, user: dict) -> dict:
        return self.call("GET", f"/attack-detection/brute-force/users/{user['id']}")


@pytest.fixture(scope="module")
def admin(endpoint, http) -> Admin:
    return Admin(endpoint, http)


@pytest.fixture(scope="module")
def kc(endpoint) -> KeycloakLogin:
    return KeycloakLogin(endpoint["base_url"], endpoint["realm"], endpoint["ca_file"])


@pytest.fixture(scope="module")
def otp_params(endpoint) -> dict:
    otp = endpoint["otp"]
    return {
        "algorithm": otp["algorithm"],
        "digits": int(otp["digits"]),
        "period": int(otp["period"]),
    }


@pytest.fixture(scope="module")
def demo_user(endpoint, admin) -> tuple[str, str]:
    """The first demo user, as the role created it, with any earlier OTP enrollment undone."""
    username = endpoint["demo_users"][0]
    password = (Path(endpoint["demo_password_dir"]) / username).read_text().strip()
    admin.forget_otp(admin.user(username))
    return username, password


@pytest.fixture(scope="module")
def enrolled(kc, demo_user, otp_params) -> dict:
    username, password = demo_user
    first = kc.login(username, password)
    assert first.outcome == "totp_setup", f"first login should ask for TOTP setup: {first}"
    assert first.totp_secret, "the setup page shows no secret"
    done = kc.login(username, password, enroll=True, otp_params=otp_params)
    assert done.ok, f"enrolling a TOTP device failed: {done.outcome} {done.error}"
    return {"username": username, "password": password, "device": done.device}


# --- the server -----------------------------------------------------------------------------------


def test_public_port_is_https_only(endpoint, http):
    response = http.get(f"{endpoint['base_url']}/realms/{endpoint['realm']}", timeout=30)
    assert response.status_code == 200
    assert response.json()["realm"] == endpoint["realm"]
    plain = endpoint["base_url"].replace("https://", "http://")
    try:
        reply = requests.get(f"{plain}/realms/{endpoint['realm']}", timeout=10)
    except requests.RequestException:
        return  # the connection was refused or closed: no plain HTTP
    # Apache's TLS port answers plain HTTP with 400 and nothing from Keycloak
    assert reply.status_code == 400 and '"realm"' not in reply.text, reply.status_code


def test_management_port_is_not_reachable_from_outside_the_host(endpoint, http):
    # bound to the Keycloak host's loopback (verify.yml asks it for readiness from there)
    with pytest.raises(requests.ConnectionError):
        http.get(f"{endpoint['management_url']}/health/ready", timeout=10)
    for base in (endpoint["base_url"], endpoint["admin_url"]):
        for path in ("/health", "/health/ready", "/metrics"):
            reply = http.get(f"{base}{path}", timeout=30)
            assert reply.status_code == 404, f"{base}{path} answered {reply.status_code}"


ADMIN_PATHS = ["/admin/", "/admin/master/console/", "/admin/realms/master", "/realms/master/"]


@pytest.mark.parametrize("path", ADMIN_PATHS)
def test_public_listener_refuses_the_admin_surface(endpoint, http, path):
    reply = http.get(f"{endpoint['base_url']}{path}", allow_redirects=False, timeout=30)
    assert reply.status_code in (403, 404), f"{path}: {reply.status_code}"


@pytest.mark.parametrize(
    "path",
    [
        "/realms/{realm}/../master/protocol/openid-connect/token",
        "/realms/{realm}/%2e%2e/master/protocol/openid-connect/token",
        "/realms/{realm}/..;/master/protocol/openid-connect/token",
        "/realms/{realm}/%2E%2E%2Fmaster/protocol/openid-connect/token",
        "/realms/Master/protocol/openid-connect/token",
        "//realms/master/protocol/openid-connect/token",
        "/realms/%6Daster/protocol/openid-connect/token",
    ],
)
def test_no_detour_reaches_the_master_realm_publicly(endpoint, admin, path):
    # a raw request line: requests would normalise the dots away before sending
    url = endpoint["base_url"] + path.format(realm=endpoint["realm"])
    session = requests.Session()
    session.trust_env = False
    prepared = requests.Request(
        "POST",
        url,
        data={
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": admin.username,
            "password": admin.password,
        },
    ).prepare()
    prepared.url = url
    reply = session.send(prepared, verify=endpoint["ca_file"], timeout=30)
    assert reply.status_code in (400, 403, 404), f"{path}: {reply.status_code}"
    assert "access_token" not in reply.text


def test_master_password_grant_works_only_on_the_admin_listener(endpoint, http, admin):
    form = {
        "grant_type": "password",
        "client_id": "admin-cli",
        "username": admin.username,
        "password": admin.password,
    }
    path = "/realms/master/protocol/openid-connect/token"
    public = http.post(endpoint["base_url"] + path, data=form, timeout=30)
    assert public.status_code == 404 and "access_token" not in public.text
    private = http.post(endpoint["admin_url"] + path, data=form, timeout=30)
    assert private.status_code == 200, private.text
    # the master realm's issuer is the admin listener (its frontend URL), not the public name
    issuer = http.get(f"{endpoint['admin_url']}/realms/master", timeout=30).json()
    assert issuer["token-service"].startswith(endpoint["admin_url"] + "/realms/master/")


def test_admin_console_is_served_on_the_admin_listener(endpoint, http):
    page = http.get(f"{endpoint['admin_url']}/admin/master/console/", timeout=30)
    assert page.status_code == 200
    # the console's login and API both stay on the admin listener
    env = json.loads(re.search(r'(?s)id="environment"[^>]*>(.*?)</script>', page.text).group(1))
    assert env["serverBaseUrl"] == endpoint["admin_url"]
    assert env["adminBaseUrl"] == endpoint["admin_url"]


def test_public_listener_still_serves_the_site_realm(endpoint, http):
    realm = endpoint["realm"]
    descriptor = http.get(
        f"{endpoint['base_url']}/realms/{realm}/protocol/saml/descriptor", timeout=30
    )
    assert descriptor.status_code == 200
    # the login page's theme comes through too
    login = http.get(f"{endpoint['base_url']}/realms/{realm}/account", timeout=30)
    assert login.status_code == 200
    theme = re.search(r'(/resources/[^"]+\.css)', login.text)
    assert theme, "no stylesheet under /resources/ on the login page"
    assert http.get(endpoint["base_url"] + theme.group(1), timeout=30).status_code == 200
    config = http.get(
        f"{endpoint['base_url']}/realms/{realm}/.well-known/openid-configuration", timeout=30
    ).json()
    assert config["issuer"] == f"{endpoint['base_url']}/realms/{realm}"


def test_bootstrap_admin_is_gone(admin):
    assert admin.user(admin.username, realm="master") is not None
    assert admin.user("temp-admin", realm="master") is None


def test_realm_policies(admin, endpoint, otp_params):
    realm = admin.call("GET", "")
    assert realm["otpPolicyType"] == "totp"
    assert realm["otpPolicyAlgorithm"] == otp_params["algorithm"]
    assert realm["otpPolicyDigits"] == otp_params["digits"]
    assert realm["otpPolicyPeriod"] == otp_params["period"]
    assert realm["bruteForceProtected"] is True
    assert realm["failureFactor"] == int(endpoint["brute_force"]["failure_factor"])
    assert realm["sslRequired"] == "all"
    assert realm["registrationAllowed"] is False
    actions = {a["alias"]: a for a in admin.call("GET", "/authentication/required-actions")}
    assert actions["CONFIGURE_TOTP"]["enabled"] and actions["CONFIGURE_TOTP"]["defaultAction"]


def test_browser_flow_has_no_conditional_otp(admin):
    realm = admin.call("GET", "")
    executions = admin.call("GET", f"/authentication/flows/{realm['browserFlow']}/executions")
    assert not [e for e in executions if e["requirement"] == "CONDITIONAL"]
    by_provider = {e.get("providerId"): e for e in executions}
    assert by_provider["auth-username-password-form"]["requirement"] == "REQUIRED"
    assert by_provider["auth-otp-form"]["requirement"] == "REQUIRED"
    assert (
        by_provider["auth-otp-form"]["level"] == by_provider["auth-username-password-form"]["level"]
    )


# --- logins through the real pages ----------------------------------------------------------------


def test_first_login_enrolls_totp(enrolled):
    assert enrolled["device"] is not None


def test_next_login_needs_the_code(kc, enrolled):
    without = kc.login(enrolled["username"], enrolled["password"])
    assert without.outcome == "otp_required"
    url, verifier = kc.oidc_start()
    with_code = kc.login(
        enrolled["username"], enrolled["password"], device=enrolled["device"], start_url=url
    )
    assert with_code.ok, f"{with_code.outcome}: {with_code.error}"
    tokens = kc.exchange_code(with_code.location, verifier)
    assert tokens["access_token"]


def test_wrong_code_is_refused(kc, enrolled, admin):
    time.sleep(1.2)  # stay clear of the quick-login check
    wrong = kc.login(
        enrolled["username"], enrolled["password"], otp_code=enrolled["device"].wrong_code()
    )
    assert wrong.outcome == "refused", wrong
    assert not wrong.location
    # one failure stays below the lockout threshold: the right code still works
    time.sleep(1.2)
    right = kc.login(enrolled["username"], enrolled["password"], device=enrolled["device"])
    assert right.ok, f"{right.outcome}: {right.error}"


def test_direct_grant_needs_the_code(endpoint, http, enrolled):
    token_url = f"{endpoint['base_url']}/realms/{endpoint['realm']}/protocol/openid-connect/token"
    form = {
        "grant_type": "password",
        "client_id": "admin-cli",
        "username": enrolled["username"],
        "password": enrolled["password"],
    }
    time.sleep(1.2)
    refused = http.post(token_url, data=form, timeout=30)
    assert refused.status_code in (400, 401), refused.text
    time.sleep(1.2)
    accepted = http.post(token_url, data=dict(form, otp=enrolled["device"].code()), timeout=30)
    assert accepted.status_code == 200, accepted.text


def test_user_without_otp_must_enroll(kc, admin):
    password = secrets.token_urlsafe(18)
    user = admin.create_user("verify-no-otp", password, required_actions=[])
    assert user["requiredActions"] == []
    assert not [
        c for c in admin.call("GET", f"/users/{user['id']}/credentials") if c["type"] == "otp"
    ]
    attempt = kc.login("verify-no-otp", password)
    assert attempt.outcome == "totp_setup", f"got in without OTP: {attempt}"
    assert not attempt.location
    # walking away from the setup page leaves no session behind
    again = kc.login("verify-no-otp", password)
    assert again.outcome == "totp_setup"


def test_repeated_wrong_passwords_lock_the_account(kc, admin, endpoint, otp_params):
    factor = int(endpoint["brute_force"]["failure_factor"])
    pause = int(endpoint["brute_force"]["quick_login_check_milliseconds"]) / 1000 + 0.5
    password = secrets.token_urlsafe(18)
    user = admin.create_user("verify-lockout", password, required_actions=[])
    enrolled = kc.login("verify-lockout", password, enroll=True, otp_params=otp_params)
    assert enrolled.ok
    device = enrolled.device
    # below the threshold the right password still works (and resets the count)
    for _ in range(factor - 1):
        time.sleep(pause)
        assert kc.login("verify-lockout", "wrong-" + password).outcome == "refused"
    time.sleep(pause)
    assert kc.login("verify-lockout", password, device=device).ok
    for _ in range(factor):
        time.sleep(pause)
        assert kc.login("verify-lockout", "wrong-" + password).outcome == "refused"
    time.sleep(pause)
    locked = kc.login("verify-lockout", password, device=device)
    assert locked.outcome == "refused", f"locked account got in: {locked}"
    status = admin.lockout(user)
    assert status["disabled"] is True
    assert status["numFailures"] >= factor


# --- SAML -----------------------------------------------------------------------------------------


def test_idp_descriptor_over_https_and_signed(endpoint, http, artifacts):
    url = f"{endpoint['base_url']}/realms/{endpoint['realm']}/protocol/saml/descriptor"
    assert url.startswith("https://")
    response = http.get(url, timeout=30)
    assert response.status_code == 200
    (artifacts / "descriptor.xml").write_bytes(response.content)
    root = ET.fromstring(response.content)  # noqa: S314 - our own test server's XML
    assert root.tag == f"{{{NS['md']}}}EntityDescriptor"
    signature = root.find("ds:Signature", NS)
    assert signature is not None, "the IdP descriptor is not signed"
    method = signature.find("ds:SignedInfo/ds:SignatureMethod", NS).get("Algorithm")
    assert method == RSA_SHA256
    idp = root.find("md:IDPSSODescriptor", NS)
    assert idp.find("md:KeyDescriptor[@use='signing']", NS) is not None
    # the realm's signing certificate, for the xmlsec1 checks in verify.yml
    cert = idp.find("md:KeyDescriptor[@use='signing']//ds:X509Certificate", NS).text.strip()
    pem = "\n".join(re.findall(".{1,64}", cert))
    (artifacts / "realm-signing.pem").write_text(
        f"-----BEGIN CERTIFICATE-----\n{pem}\n-----END CERTIFICATE-----\n"
    )


def _saml_client(endpoint) -> dict:
    return endpoint["saml_clients"][0]


def _attributes(assertion: ET.Element) -> dict[str, list[str]]:
    return {
        a.get("Name"): [v.text for v in a.findall("saml:AttributeValue", NS)]
        for a in assertion.findall("saml:AttributeStatement/saml:Attribute", NS)
    }


def test_saml_login_returns_signed_assertion(kc, endpoint, enrolled, artifacts):
    client = _saml_client(endpoint)
    acs = client["redirect_uris"][0]
    start = kc.saml_start(client["entity_id"], acs)
    time.sleep(1.2)
    result = kc.login(
        enrolled["username"], enrolled["password"], device=enrolled["device"], start_url=start
    )
    assert result.ok and result.saml_response, f"{result.outcome}: {result.error}"
    assert result.saml_destination == acs
    xml = decode_saml_response(result.saml_response)
    (artifacts / "response.xml").write_text(xml)
    root = ET.fromstring(xml)  # noqa: S314 - our own test server's XML
    status = root.find("samlp:Status/samlp:StatusCode", NS).get("Value")
    assert status.endswith(":Success")
    response_sig = root.find("ds:Signature", NS)
    assert response_sig is not None, "response not signed"
    assertion = root.find("saml:Assertion", NS)
    assertion_sig = assertion.find("ds:Signature", NS)
    assert assertion_sig is not None, "assertion not signed"
    for sig in (response_sig, assertion_sig):
        method = sig.find("ds:SignedInfo/ds:SignatureMethod", NS).get("Algorithm")
        assert method == RSA_SHA256
    name_id = assertion.find("saml:Subject/saml:NameID", NS)
    assert name_id.text == enrolled["username"]
    attributes = _attributes(assertion)
    assert attributes["username"] == [enrolled["username"]]
    assert attributes["email"][0].endswith("@demo.invalid")
    assert attributes["groups"], attributes
    audience = assertion.find(".//saml:AudienceRestriction/saml:Audience", NS).text
    assert audience == client["entity_id"]


def test_saml_refuses_unregistered_acs(kc, endpoint, enrolled):
    client = _saml_client(endpoint)
    evil = client["redirect_uris"][0].replace("/mellon/postResponse", "/mellon/../evil")
    start = kc.saml_start(client["entity_id"], evil + "x")
    response = kc.session().get(start, timeout=30)
    # no login form for a request whose ACS URL is not registered
    assert "kc-form-login" not in response.text
    assert response.status_code >= 400 or "Invalid" in response.text


def test_saml_response_cannot_be_obtained_without_otp(kc, endpoint, enrolled):
    client = _saml_client(endpoint)
    start = kc.saml_start(client["entity_id"], client["redirect_uris"][0])
    time.sleep(1.2)
    result = kc.login(enrolled["username"], enrolled["password"], start_url=start)
    assert result.outcome == "otp_required"
    assert result.saml_response is None


# --- LDAP federation ------------------------------------------------------------------------------


def test_directory_user_must_enroll_and_gets_directory_groups(kc, admin, endpoint, otp_params):
    ldap = endpoint["ldap_user"]
    username = ldap["username"]
    password = Path(ldap["password_file"]).read_text().strip()
    known = admin.user(username)
    if known:  # a rerun: undo the earlier enrollment
        admin.forget_otp(known)
    time.sleep(1.2)
    assert kc.login(username, "wrong-" + password).outcome == "refused"
    time.sleep(1.2)
    first = kc.login(username, password)
    assert first.outcome == "totp_setup", f"directory user got past the password: {first}"
    assert admin.user(username).get("federationLink"), "the user does not come from LDAP"
    enrolled = kc.login(username, password, enroll=True, otp_params=otp_params)
    assert enrolled.ok, f"{enrolled.outcome}: {enrolled.error}"
    client = _saml_client(endpoint)
    start = kc.saml_start(client["entity_id"], client["redirect_uris"][0])
    time.sleep(1.2)
    result = kc.login(username, password, device=enrolled.device, start_url=start)
    assert result.ok and result.saml_response, f"{result.outcome}: {result.error}"
    root = ET.fromstring(decode_saml_response(result.saml_response))  # noqa: S314 - own server
    attributes = _attributes(root.find("saml:Assertion", NS))
    assert attributes["username"] == [username]
    assert ldap["group"] in attributes["groups"], attributes
