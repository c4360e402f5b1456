//! `/login` and `/logout`: the browser trades an API key for an HttpOnly, SameSite=Strict
//! session cookie once, instead of keeping the key in the page.

use salvo::http::StatusCode;
use salvo::http::cookie::{Cookie, SameSite};
use salvo::prelude::*;
use serde::Serialize;

use super::access::{SESSION_COOKIE, remote_ip};
use super::error::ApiError;
use super::state::state;

#[derive(Serialize)]
struct LoginPage {
    error: Option<String>,
}

fn page(depot: &Depot, res: &mut Response, status: StatusCode, error: Option<String>) {
    match state(depot).and_then(|s| {
        s.templates
            .render("login.html", LoginPage { error })
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
    }) {
        Ok(html) => {
            res.status_code(status);
            res.render(Text::Html(html));
        }
        Err(e) => e.write(res),
    }
}

#[handler]
pub async fn show(depot: &mut Depot, res: &mut Response) {
    page(depot, res, StatusCode::OK, None);
}

#[handler]
pub async fn submit(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let Ok(s) = state(depot) else {
        return page(depot, res, StatusCode::INTERNAL_SERVER_ERROR, None);
    };
    let Some(policy) = s.access.clone() else {
        res.render(Redirect::other("/"));
        return;
    };
    let key = req.form::<String>("key").await.unwrap_or_default();
    match policy.login(&key, remote_ip(req)) {
        Ok(token) => {
            let cookie = Cookie::build((SESSION_COOKIE, token))
                .http_only(true)
                .same_site(SameSite::Strict)
                .path("/")
                .max_age(salvo::http::cookie::time::Duration::days(7))
                .build();
            res.add_cookie(cookie);
            res.render(Redirect::other("/"));
        }
        Err(e) => page(depot, res, e.status, Some(e.error)),
    }
}

#[handler]
pub async fn logout(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    if let (Ok(s), Some(token)) = (
        state(depot),
        req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()),
    ) && let Some(policy) = &s.access
    {
        policy.logout(&token);
    }
    res.add_cookie(
        Cookie::build((SESSION_COOKIE, ""))
            .path("/")
            .max_age(salvo::http::cookie::time::Duration::ZERO)
            .build(),
    );
    res.render(Redirect::other("/login"));
}
