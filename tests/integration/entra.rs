//! The emulator's synchronization API as core's Graph client calls it: job control (start,
//! pause, restart with its resetScope), the checks a schema PUT gets, secrets, templates,
//! assignments and the service principal filter.

use serde_json::{Value, json};
use tenantsync_core::{
    GraphClient, GraphClientOptions, GraphRequest, GroupSyncOptions, JobConfig,
    enable_entra_group_sync, entra_api,
};
use tenantsync_emulator::{CROSS_TENANT_TEMPLATE_APP, SeedSpec};
use tenantsync_tests::{World, text};

fn seed() -> SeedSpec {
    SeedSpec {
        seed: 3,
        users: 6,
        security_groups: 1,
        m365_groups: 0,
        mail_enabled_groups: 0,
        nested: 0,
        avg_members: 2,
    }
}

/// A world whose source holds a cross-tenant job with every source user assigned, and a
/// client signed in to the source with the synchronization permissions.
fn setup() -> (World, tenantsync_emulator::SeededSyncJob, GraphClient) {
    let world = World::with_source_roles(
        seed(),
        &["Synchronization.ReadWrite.All", "Application.Read.All"],
    );
    let users: Vec<String> = world
        .source()
        .state()
        .users
        .iter()
        .filter_map(|u| text(u, "id"))
        .collect();
    let job = world
        .source()
        .seed_cross_tenant_sync(&world.target_id, &users, false)
        .expect("seeded");
    let config = JobConfig::load(&world.write_job(&[], "")).expect("job");
    let source = config.source.expect("[source]");
    let client = GraphClient::for_credential(
        &source.cloud,
        source.credential,
        GraphClientOptions {
            max_attempts: 1,
            ..GraphClientOptions::default()
        },
    )
    .expect("client");
    (world, job, client)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

async fn post(client: &GraphClient, path: String, body: Value) -> Result<u16, (u16, String)> {
    client
        .send(GraphRequest::post(path, body))
        .await
        .map(|r| r.status)
        .map_err(|e| {
            let api = e.api().expect("graph answered");
            (api.status, api.code.clone())
        })
}

#[test]
fn pause_start_and_restart_follow_graph() {
    let (world, job, client) = setup();
    let base = format!(
        "/servicePrincipals/{}/synchronization/jobs/{}",
        job.service_principal_id, job.job_id
    );
    let rt = runtime();
    rt.block_on(async {
        assert_eq!(post(&client, format!("{base}/pause"), json!({})).await, Ok(204));
        let j = entra_api::job(&client, &job.service_principal_id, &job.job_id)
            .await
            .unwrap();
        assert_eq!(j["schedule"]["state"], "Paused");
        assert_eq!(j["status"]["code"], "Paused");
        assert_eq!(post(&client, format!("{base}/start"), json!({})).await, Ok(204));
        let j = entra_api::job(&client, &job.service_principal_id, &job.job_id)
            .await
            .unwrap();
        assert_eq!(j["status"]["code"], "Active");

        // Escrows only: the quarantine stays.
        world
            .source()
            .update_sync_job_status(
                &job.job_id,
                json!({"code": "Quarantine", "quarantine": {"reason": "EncounteredEscrowProportionThreshold"}}),
            )
            .unwrap();
        let restart = |scope: &str| {
            post(
                &client,
                format!("{base}/restart"),
                json!({"criteria": {"resetScope": scope}}),
            )
        };
        assert_eq!(restart("Escrows").await, Ok(204));
        let j = world.source().sync_job(&job.job_id).unwrap();
        assert_eq!(j["status"]["lastExecution"]["countEscrowed"], 0);
        assert_eq!(j["status"]["code"], "Quarantine");
        assert_eq!(restart("Watermark, QuarantineState").await, Ok(204));
        let j = world.source().sync_job(&job.job_id).unwrap();
        assert_eq!(j["status"]["code"], "Active");
        assert_eq!(j["status"]["quarantine"], Value::Null);
        assert_eq!(j["status"]["steadyStateLastAchievedTime"], Value::Null);
        assert_eq!(
            restart("Everything").await,
            Err((400, "BadRequest".to_string()))
        );
        assert_eq!(
            post(&client, format!("{base}/nonsense"), json!({})).await.map_err(|e| e.0),
            Err(400)
        );
    });
}

#[test]
fn a_schema_put_gets_graphs_checks() {
    let (world, job, client) = setup();
    let (sp, id) = (job.service_principal_id.as_str(), job.job_id.as_str());
    let rt = runtime();
    rt.block_on(async {
        let schema = entra_api::schema(&client, sp, id).await.unwrap();
        assert_eq!(schema, world.source().sync_job_schema(id).unwrap());
        let client = &client;
        let refused = |s: Value| async move {
            let e = entra_api::put_schema(client, sp, id, &s).await.unwrap_err();
            let api = e.api().expect("graph answered").clone();
            (api.status, api.code)
        };
        // The matching attribute cannot change.
        let mut s = schema.clone();
        s["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"][0]
            ["matchingPriority"] = json!(0);
        assert_eq!(refused(s).await, (400, "schemaInvalid".to_string()));
        // A mapping to an attribute the target object does not define.
        let mut s = schema.clone();
        s["synchronizationRules"][0]["objectMappings"][1]["attributeMappings"] = json!([
            {"source": {"type": "Attribute", "name": "objectId", "expression": "[objectId]"},
             "targetAttributeName": "displayName"}
        ]);
        assert_eq!(refused(s).await, (400, "schemaInvalid".to_string()));
        // A rule naming a directory the schema lacks.
        let mut s = schema.clone();
        s["synchronizationRules"][0]["targetDirectoryName"] = json!("Elsewhere");
        assert_eq!(refused(s).await, (400, "schemaInvalid".to_string()));
        assert_eq!(world.source().sync_job_schema_puts(id), 0);

        // The group change passes and is stored as sent.
        let enabled =
            enable_entra_group_sync(&schema, &GroupSyncOptions::default()).unwrap();
        entra_api::put_schema(client, sp, id, &enabled).await.unwrap();
        assert_eq!(entra_api::schema(client, sp, id).await.unwrap(), enabled);
        assert_eq!(world.source().sync_job_schema_puts(id), 1);
    });
}

#[test]
fn secrets_templates_assignments_and_the_template_filter() {
    let (world, job, client) = setup();
    let sp = job.service_principal_id.as_str();
    let rt = runtime();
    rt.block_on(async {
        let secrets = entra_api::secrets(&client, sp).await.unwrap();
        assert!(secrets.contains(&("CompanyId".to_string(), world.target_id.clone())));
        assert!(secrets.contains(&("SyncAll".to_string(), "false".to_string())));
        let templates = client
            .get_json(&format!(
                "/servicePrincipals/{sp}/synchronization/templates"
            ))
            .await
            .unwrap();
        assert_eq!(templates["value"][0]["id"], "Azure2Azure");
        assert_eq!(templates["value"][0]["factoryTag"], "Azure2Azure");
        let assigned = entra_api::assignments(&client, sp).await.unwrap();
        assert_eq!(assigned.len(), world.source().state().users.len());
        assert!(assigned.iter().all(|a| a["principalType"] == "User"));
        let found = entra_api::cross_tenant_service_principals(&client)
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0]["applicationTemplateId"], CROSS_TENANT_TEMPLATE_APP);
        let e = client
            .get_json("/servicePrincipals?$filter=notes%20eq%20'x'")
            .await
            .unwrap_err();
        assert_eq!(e.status(), Some(400));
        // Secrets are read-only here.
        let e = client
            .send(GraphRequest::delete(format!(
                "/servicePrincipals/{sp}/synchronization/secrets"
            )))
            .await
            .unwrap_err();
        assert_eq!(e.status(), Some(405));
    });
}
