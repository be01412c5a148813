//! The Graph calls of the Entra bridge, each shaped as its Microsoft Learn page documents it.
//!
//! | call | page | application permissions (least privileged first) |
//! | --- | --- | --- |
//! | `GET /servicePrincipals?$filter=applicationTemplateId eq '…'` | [serviceprincipal-list](https://learn.microsoft.com/graph/api/serviceprincipal-list) | Application.Read.All, … |
//! | `GET /servicePrincipals/{id}/appRoleAssignedTo` | [serviceprincipal-list-approleassignedto](https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignedto) | Application.Read.All, … |
//! | `GET /servicePrincipals/{id}/synchronization/jobs` | [synchronization-synchronization-list-jobs](https://learn.microsoft.com/graph/api/synchronization-synchronization-list-jobs) | Application.ReadWrite.OwnedBy, Synchronization.Read.All, … |
//! | `GET /servicePrincipals/{id}/synchronization/jobs/{jobId}` | [synchronization-synchronizationjob-get](https://learn.microsoft.com/graph/api/synchronization-synchronizationjob-get) | Application.ReadWrite.OwnedBy, Synchronization.Read.All, … |
//! | `GET …/jobs/{jobId}/schema` | [synchronization-synchronizationschema-get](https://learn.microsoft.com/graph/api/synchronization-synchronizationschema-get) | Application.ReadWrite.OwnedBy, Synchronization.Read.All, … |
//! | `PUT …/jobs/{jobId}/schema` (204) | [synchronization-synchronizationschema-update](https://learn.microsoft.com/graph/api/synchronization-synchronizationschema-update) | Application.ReadWrite.OwnedBy, Synchronization.ReadWrite.All |
//! | `GET /servicePrincipals/{id}/synchronization/secrets` | the `secrets` property of [synchronization](https://learn.microsoft.com/graph/api/resources/synchronization-synchronization) | Application.ReadWrite.OwnedBy, Synchronization.ReadWrite.All |

use reqwest::Method;
use serde_json::Value;

use super::EntraError;
use crate::graph::client::encode_path_segment;
use crate::graph::{GraphClient, GraphError, GraphRequest, list_all};

/// The application template of Entra's cross-tenant synchronization app.
/// (<https://learn.microsoft.com/entra/identity/multi-tenant-organizations/cross-tenant-synchronization-configure-graph>)
pub const CROSS_TENANT_TEMPLATE_APP: &str = "518e5f48-1fc8-4c48-9387-9fdf28b0dfe7";

fn sp_path(sp: &str) -> String {
    format!("/servicePrincipals/{}", encode_path_segment(sp))
}

fn job_path(sp: &str, job: &str) -> String {
    format!(
        "{}/synchronization/jobs/{}",
        sp_path(sp),
        encode_path_segment(job)
    )
}

/// Removes what Graph adds to an answer and is not part of the resource (`@odata.context`).
pub fn strip_annotations(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.retain(|k, _| !k.starts_with("@odata."));
    }
    v
}

/// The service principals made from the cross-tenant synchronization template.
pub async fn cross_tenant_service_principals(
    client: &GraphClient,
) -> Result<Vec<Value>, GraphError> {
    let url = format!(
        "/servicePrincipals?$filter=applicationTemplateId%20eq%20'{CROSS_TENANT_TEMPLATE_APP}'&$select=id,appId,displayName,applicationTemplateId"
    );
    list_all(client, GraphRequest::get(url)).await
}

/// A service principal.
pub async fn service_principal(client: &GraphClient, sp: &str) -> Result<Value, GraphError> {
    Ok(strip_annotations(
        client
            .get_json(&format!(
                "{}?$select=id,appId,displayName,applicationTemplateId",
                sp_path(sp)
            ))
            .await?,
    ))
}

/// The synchronization jobs of a service principal.
pub async fn jobs(client: &GraphClient, sp: &str) -> Result<Vec<Value>, GraphError> {
    list_all(
        client,
        GraphRequest::get(format!("{}/synchronization/jobs", sp_path(sp))),
    )
    .await
}

/// One synchronization job, with its `status`.
pub async fn job(client: &GraphClient, sp: &str, job: &str) -> Result<Value, GraphError> {
    Ok(strip_annotations(
        client.get_json(&job_path(sp, job)).await?,
    ))
}

/// A job's synchronization schema, without Graph's annotations.
pub async fn schema(client: &GraphClient, sp: &str, job: &str) -> Result<Value, GraphError> {
    Ok(strip_annotations(
        client
            .get_json(&format!("{}/schema", job_path(sp, job)))
            .await?,
    ))
}

/// Replaces a job's schema (Graph answers 204 No Content). Safe to repeat: the same body
/// leaves the same schema.
pub async fn put_schema(
    client: &GraphClient,
    sp: &str,
    job: &str,
    schema: &Value,
) -> Result<(), GraphError> {
    client
        .send(
            GraphRequest::new(Method::PUT, format!("{}/schema", job_path(sp, job)))
                .json(schema.clone()),
        )
        .await?;
    Ok(())
}

/// The users and groups assigned to a service principal (appRoleAssignment resources).
pub async fn assignments(client: &GraphClient, sp: &str) -> Result<Vec<Value>, GraphError> {
    list_all(
        client,
        GraphRequest::get(format!("{}/appRoleAssignedTo", sp_path(sp))),
    )
    .await
}

/// The synchronization secrets of a service principal as `(key, value)`; Graph never
/// returns credential values.
pub async fn secrets(client: &GraphClient, sp: &str) -> Result<Vec<(String, String)>, GraphError> {
    let body = client
        .get_json(&format!("{}/synchronization/secrets", sp_path(sp)))
        .await?;
    Ok(body["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p["key"].as_str()?.to_string(),
                p["value"].as_str().unwrap_or_default().to_string(),
            ))
        })
        .collect())
}

/// Where a job lives: its service principal and the job resource.
#[derive(Debug, Clone)]
pub struct LocatedJob {
    /// The service principal (id, appId, displayName).
    pub service_principal: Value,
    /// The job resource with its status.
    pub job: Value,
}

impl LocatedJob {
    /// The service principal's object id.
    pub fn service_principal_id(&self) -> &str {
        self.service_principal["id"].as_str().unwrap_or_default()
    }

    /// The job id.
    pub fn job_id(&self) -> &str {
        self.job["id"].as_str().unwrap_or_default()
    }
}

/// Finds job `job_id`: under `service_principal` when given, else among the jobs of the
/// cross-tenant synchronization service principals.
pub async fn locate(
    client: &GraphClient,
    job_id: &str,
    service_principal: Option<&str>,
) -> Result<LocatedJob, EntraError> {
    if let Some(sp) = service_principal {
        let principal = self::service_principal(client, sp).await?;
        let job = job(client, sp, job_id).await.map_err(|e| match e.status() {
            Some(404) => EntraError::NotFound(format!(
                "service principal {sp} has no synchronization job `{job_id}`; run `tenantsync entra jobs` to list the jobs"
            )),
            _ => e.into(),
        })?;
        return Ok(LocatedJob {
            service_principal: principal,
            job,
        });
    }
    for principal in cross_tenant_service_principals(client).await? {
        let sp = principal["id"].as_str().unwrap_or_default().to_string();
        for j in jobs(client, &sp).await? {
            if j["id"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(job_id))
            {
                return Ok(LocatedJob {
                    service_principal: principal,
                    job: strip_annotations(j),
                });
            }
        }
    }
    Err(EntraError::NotFound(format!(
        "no cross-tenant synchronization job `{job_id}` in the source tenant; run `tenantsync entra jobs` to list them, or name its service principal with --service-principal"
    )))
}
