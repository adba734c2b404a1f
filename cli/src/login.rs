//! `mcpgw login`, `logout` and `token` (SPEC §10, §13, §14): getting tokens from the
//! gateway's issuer, keeping them per gateway, and handing a valid one to scripts.

use std::io::{IsTerminal, Write};

use crate::client::{Failure, Gateway};
use crate::credentials::{Credentials, StoredLogin};
use crate::store::Store;
use crate::{callback, oidc, output};

/// What `mcpgw login` was asked.
pub struct LoginRequest<'a> {
    pub browser: bool,
    pub username: Option<&'a str>,
    pub password_stdin: bool,
    pub issuer: Option<&'a str>,
}

/// Log in and keep the tokens for `gateway`; says who the gateway now sees on `err`.
pub fn login(
    gateway: &mut Gateway,
    store: Option<Store>,
    request: &LoginRequest<'_>,
    err: &mut dyn Write,
) -> Result<(), Failure> {
    let store = store.ok_or_else(|| {
        Failure::Usage("cannot find your home directory to keep the tokens in".to_owned())
    })?;
    let Some(issuer) = issuer(gateway, request.issuer)? else {
        let _ = writeln!(
            err,
            "The gateway at {} has authentication off: there is nothing to log in to.",
            gateway.base()
        );
        return Ok(());
    };
    let issuer_url = oidc::check_safe(&issuer)?;
    // Before anything is asked: where the credentials will go.
    let _ = writeln!(
        err,
        "Logging in to {} (issuer {issuer})",
        issuer_url.host_str().unwrap_or_default()
    );
    let http = gateway.http().clone();
    let discovery = gateway.block_on(oidc::discover(&http, &issuer))?;
    let mut login = match request.username {
        Some(username) => {
            let password = password(request.password_stdin, username, err)?;
            gateway.block_on(oidc::password_grant(&http, &discovery, username, &password))?
        }
        None if request.browser || std::io::stdin().is_terminal() => {
            gateway.block_on(callback::browser_login(&http, &discovery, err))?
        }
        None => {
            return Err(Failure::Usage(
                "no terminal to log in from: pass --username U --password-stdin, or --browser"
                    .to_owned(),
            ));
        }
    };
    // Who the gateway sees with the new token; the login is kept either way, so that
    // `mcpgw doctor` can say why a refused token is refused.
    let store_path = store.path();
    gateway.set_credentials(Credentials::Stored(Box::new(StoredLogin::new(
        store.clone(),
        gateway.base(),
        login.clone(),
    ))));
    let whoami = gateway.get("/whoami");
    if let Ok(whoami) = &whoami {
        login.user = whoami["user"].as_str().map(str::to_owned);
    }
    store
        .save(gateway.base(), login)
        .map_err(|e| Failure::BadAnswer(format!("cannot write {}: {e}", store_path.display())))?;
    match whoami {
        Ok(whoami) => {
            let _ = writeln!(
                err,
                "Logged in to {} as {} (roles: {})",
                gateway.base(),
                whoami["user"].as_str().unwrap_or("?"),
                output::list(&whoami["roles"])
            );
            Ok(())
        }
        Err(Failure::Unauthenticated { .. }) => Err(Failure::Auth(format!(
            "the issuer gave a token but the gateway refuses it: run `mcpgw doctor` to see why (issuer {issuer})"
        ))),
        Err(other) => Err(other),
    }
}

/// Forget the login kept for `gateway`, and revoke its refresh token at the issuer.
pub fn logout(gateway: &Gateway, store: Option<Store>, err: &mut dyn Write) -> Result<(), Failure> {
    let removed = match store {
        Some(store) => store.remove(gateway.base()).map_err(|e| {
            Failure::BadAnswer(format!("cannot write {}: {e}", store.path().display()))
        })?,
        None => None,
    };
    match removed {
        Some(login) => {
            gateway.block_on(oidc::revoke(gateway.http(), &login));
            let _ = writeln!(err, "Logged out of {}", gateway.base());
        }
        None => {
            let _ = writeln!(err, "Not logged in to {}", gateway.base());
        }
    }
    Ok(())
}

/// `mcpgw token`: the token and a newline, nothing else on stdout.
pub fn token(gateway: &Gateway, out: &mut dyn Write) -> Result<(), Failure> {
    let token = gateway.block_on(gateway.credentials().bearer(gateway.http()))?;
    let token = token.ok_or_else(|| {
        Failure::Auth(format!(
            "not logged in to {}: run `mcpgw login`",
            gateway.base()
        ))
    })?;
    let _ = writeln!(out, "{token}");
    Ok(())
}

/// The issuer to log in to: `--issuer`, else `KEYCLOAK_URL`/`KEYCLOAK_REALM`, else the
/// gateway's protected resource metadata (SPEC §12). `None`: the gateway has auth off.
fn issuer(gateway: &Gateway, given: Option<&str>) -> Result<Option<String>, Failure> {
    if let Some(issuer) = given {
        return Ok(Some(issuer.trim_end_matches('/').to_owned()));
    }
    if let Ok(base) = std::env::var("KEYCLOAK_URL") {
        let realm = std::env::var("KEYCLOAK_REALM").unwrap_or_else(|_| "mcp-gateway".to_owned());
        return Ok(Some(format!(
            "{}/realms/{realm}",
            base.trim_end_matches('/')
        )));
    }
    match gateway.get("/.well-known/oauth-protected-resource") {
        Ok(metadata) => metadata["authorization_servers"][0]
            .as_str()
            .map(|issuer| Some(issuer.trim_end_matches('/').to_owned()))
            .ok_or_else(|| {
                Failure::BadAnswer("its protected resource metadata names no issuer".to_owned())
            }),
        Err(Failure::Refused { status: 404, .. }) => Ok(None),
        Err(other) => Err(other),
    }
}

/// The password: one line of stdin, or asked without echo on the terminal.
fn password(from_stdin: bool, username: &str, err: &mut dyn Write) -> Result<String, Failure> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| Failure::Usage(format!("cannot read the password from stdin: {e}")))?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        // Only when stdin is a terminal too: a script that forgot --password-stdin gets told,
        // rather than a prompt on whatever terminal it was started from.
        let no_terminal = || {
            Failure::Usage(
                "no terminal to ask the password on: pass it on stdin with --password-stdin"
                    .to_owned(),
            )
        };
        if !std::io::stdin().is_terminal() {
            return Err(no_terminal());
        }
        let _ = err.flush();
        rpassword::prompt_password(format!("Password for {username}: "))
            .map_err(|_| no_terminal())?
    };
    if password.is_empty() {
        return Err(Failure::Usage("the password is empty".to_owned()));
    }
    Ok(password)
}
