#!/usr/bin/env python3
"""`make keycloak-setup`: apply examples/keycloak/mcp-gateway-realm.json to a running Keycloak
through its admin REST API, as often as wanted.

- No realm yet: it is created from the file (what `--import-realm` does at first start).
- The realm exists: its settings are updated; roles, users and clients are overwritten from
  the file (partial import); client scopes and their mappers, the default client scopes and
  the client registration policies are created or updated by name. What the file does not
  name is left alone (clients that MCP clients registered themselves, for example).

Environment: KEYCLOAK_URL (http://localhost:8080), KC_BOOTSTRAP_ADMIN_USERNAME /
KC_BOOTSTRAP_ADMIN_PASSWORD (admin / admin), REALM_FILE (examples/keycloak/mcp-gateway-realm.json).
Standard library only.
"""

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

KEYCLOAK_URL = os.environ.get("KEYCLOAK_URL", "http://localhost:8080").rstrip("/")
ADMIN = os.environ.get("KC_BOOTSTRAP_ADMIN_USERNAME", "admin")
PASSWORD = os.environ.get("KC_BOOTSTRAP_ADMIN_PASSWORD", "admin")
REALM_FILE = os.environ.get(
    "REALM_FILE",
    os.path.join(os.path.dirname(__file__), "..", "examples", "keycloak", "mcp-gateway-realm.json"),
)
POLICY_TYPE = "org.keycloak.services.clientregistration.policy.ClientRegistrationPolicy"


def call(method, path, token=None, body=None, form=None):
    """One admin API request: (status, parsed JSON or None). Errors are answers, not raises."""
    headers = {}
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(KEYCLOAK_URL + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        text, status = error.read(), error.code
    except urllib.error.URLError as error:
        sys.exit(f"keycloak-setup: cannot reach Keycloak at {KEYCLOAK_URL}: {error.reason}")
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, None


def expect(what, status, answer, *ok):
    if status not in ok:
        sys.exit(f"keycloak-setup: {what}: HTTP {status} {json.dumps(answer)[:300]}")


def admin_token():
    status, answer = call(
        "POST",
        "/realms/master/protocol/openid-connect/token",
        form={"grant_type": "password", "client_id": "admin-cli", "username": ADMIN, "password": PASSWORD},
    )
    expect(f"admin login as {ADMIN}", status, answer, 200)
    return answer["access_token"]


def upsert_by_name(token, collection, wanted, what, key="name"):
    """Create `wanted` in `collection` (a list endpoint), or update the entry with its name;
    the entry's id."""
    status, existing = call("GET", collection, token)
    expect(f"list {what}", status, existing, 200)
    found = next((e for e in existing if e.get(key) == wanted[key]), None)
    if found is None:
        status, answer = call("POST", collection, token, wanted)
        expect(f"create {what} {wanted[key]}", status, answer, 201)
        status, existing = call("GET", collection, token)
        found = next(e for e in existing if e.get(key) == wanted[key])
        print(f"  created {what} {wanted[key]}")
    else:
        status, answer = call("PUT", f"{collection}/{found['id']}", token, {**wanted, "id": found["id"]})
        expect(f"update {what} {wanted[key]}", status, answer, 204)
        print(f"  updated {what} {wanted[key]}")
    return found["id"]


def main():
    with open(REALM_FILE, encoding="utf-8") as file:
        realm = json.load(file)
    name = realm["realm"]
    token = admin_token()
    base = f"/admin/realms/{name}"

    status, _ = call("GET", base, token)
    if status == 404:
        status, answer = call("POST", "/admin/realms", token, realm)
        expect(f"create realm {name}", status, answer, 201)
        print(f"Realm {name} created from {REALM_FILE}")
        return

    print(f"Realm {name} exists: applying {REALM_FILE}")
    nested = {"users", "clients", "roles", "clientScopes", "components", "scopeMappings",
              "defaultDefaultClientScopes", "defaultOptionalClientScopes"}
    settings = {k: v for k, v in realm.items() if k not in nested}
    status, answer = call("PUT", base, token, settings)
    expect("update realm settings", status, answer, 204)
    print("  updated realm settings")

    for scope in realm.get("clientScopes", []):
        mappers = scope.get("protocolMappers", [])
        scope_id = upsert_by_name(token, f"{base}/client-scopes",
                                  {k: v for k, v in scope.items() if k != "protocolMappers"}, "client scope")
        for mapper in mappers:
            upsert_by_name(token, f"{base}/client-scopes/{scope_id}/protocol-mappers/models",
                           mapper, f"mapper of {scope['name']}")

    status, answer = call("POST", f"{base}/partialImport", token, {
        "ifResourceExists": "OVERWRITE",
        "roles": realm.get("roles", {}),
        "users": realm.get("users", []),
        "clients": realm.get("clients", []),
    })
    expect("import roles, users and clients", status, answer, 200)
    print(f"  overwrote {answer.get('overwritten', 0)}, added {answer.get('added', 0)} roles, users and clients")

    status, scopes = call("GET", f"{base}/client-scopes", token)
    expect("list client scopes", status, scopes, 200)
    ids = {s["name"]: s["id"] for s in scopes}
    for kind, key in (("default", "defaultDefaultClientScopes"), ("optional", "defaultOptionalClientScopes")):
        for scope_name in realm.get(key, []):
            status, answer = call("PUT", f"{base}/default-{kind}-client-scopes/{ids[scope_name]}", token)
            expect(f"make {scope_name} a {kind} client scope", status, answer, 204)

    status, realm_now = call("GET", base, token)
    expect("read realm id", status, realm_now, 200)
    for policy in realm.get("components", {}).get(POLICY_TYPE, []):
        status, existing = call("GET", f"{base}/components?type={POLICY_TYPE}", token)
        expect("list client registration policies", status, existing, 200)
        wanted = {**policy, "providerType": POLICY_TYPE, "parentId": realm_now["id"]}
        found = next((c for c in existing
                      if c["name"] == policy["name"] and c.get("subType") == policy.get("subType")), None)
        if found is None:
            status, answer = call("POST", f"{base}/components", token, wanted)
            expect(f"create policy {policy['name']}", status, answer, 201)
        else:
            status, answer = call("PUT", f"{base}/components/{found['id']}", token, {**wanted, "id": found["id"]})
            expect(f"update policy {policy['name']}", status, answer, 204)
    print(f"Realm {name} is up to date")


if __name__ == "__main__":
    main()
