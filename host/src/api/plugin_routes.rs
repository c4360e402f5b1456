//! `/api/plugins`: the plugins found, their state and call statistics, and reloading them.

use salvo::oapi::endpoint;
use salvo::prelude::*;

use super::error::ApiError;
use super::state::{reply, state};
use crate::view::plugin_dto::{PluginDto, PluginsResponse, ReloadResponse};

/// Every plugin folder found, loaded or not.
#[endpoint(tags("plugins"), responses((status_code = 200, body = PluginsResponse)))]
pub async fn list(depot: &mut Depot, res: &mut Response) {
    reply(
        res,
        state(depot).map(|s| PluginsResponse {
            plugins: s.plugins.list().iter().map(PluginDto::from).collect(),
            dir: s.plugins.dir().display().to_string(),
            reloads: s.plugins.reloads(),
        }),
    );
}

/// One plugin.
#[endpoint(
    tags("plugins"),
    parameters(("id" = String, Path, description = "Plugin id, e.g. slskd")),
    responses((status_code = 200, body = PluginDto), (status_code = 404, body = crate::view::dto::ErrorBody))
)]
pub async fn get_one(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let id = req.param::<String>("id").unwrap_or_default();
    reply(
        res,
        state(depot).and_then(|s| {
            s.plugins
                .get(&id)
                .map(|e| PluginDto::from(&e))
                .ok_or_else(|| {
                    ApiError::not_found(format!("no plugin {id:?} in the plugins directory"))
                })
        }),
    );
}

/// Reloads the plugins directory now (admin): changed plugins are validated and compiled, then
/// swapped in; a broken one is refused and the old version keeps serving.
#[endpoint(tags("plugins"), responses((status_code = 200, body = ReloadResponse)))]
pub async fn reload(depot: &mut Depot, res: &mut Response) {
    let result = match state(depot) {
        Ok(s) => {
            let report = s.plugins.reload().await;
            res.headers_mut().insert(
                "hx-trigger",
                salvo::http::HeaderValue::from_static("provider-health-changed"),
            );
            Ok(ReloadResponse::from(&report))
        }
        Err(e) => Err(e),
    };
    reply(res, result);
}
